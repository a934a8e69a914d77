# Two commands from a fresh clone:  `make demo` (set up, run the demo)  and  `make test`.
# Everything installs into .venv from PyPI, pinned by constraints.txt so pip never backtracks.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test lint bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: the CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	touch $@

demo: setup
	$(VENV)/bin/workbench demo

test: setup lint
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy workbench

bench: setup
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_drift.py

clean:
	rm -rf $(VENV) .workbench
