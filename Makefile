# Two commands from a fresh clone:  `make demo` (set up, run the demo)  and  `make test`.
# Everything installs into .venv from PyPI, pinned by constraints.txt so the resolver never
# backtracks: torch by pip (its CPU wheel lies on this machine's disk, where uv does not look),
# the rest by uv (about a minute where pip took eight).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test lint bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt extensions/pyproject.toml
	python3 -m venv $(VENV)
	# torch first and pinned: the CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(PIP) torch==2.13.0 uv
	# compiled at install: uv writes no .pyc, and with PYTHONDONTWRITEBYTECODE (set on these
	# machines) every process then compiled mlflow & co. again: `import mlflow` 7 s -> 2 s
	$(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt -e ".[dev]" \
		-e ./extensions --compile-bytecode
	touch $@

demo: setup
	$(VENV)/bin/workbench demo

test: setup lint
	$(PY) -m compileall -q workbench apps tests  # our own code too, for the same reason
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy workbench

bench: setup
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_drift.py

clean:
	rm -rf $(VENV) .workbench
