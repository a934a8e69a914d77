# Two commands from a fresh clone:  `make demo` (set up, run the demo)  and  `make test`.
# Everything installs into .venv from PyPI, pinned by constraints.txt so the resolver never
# backtracks: torch by pip (its CPU wheel lies on this machine's disk, where uv does not look),
# the rest by uv (about a minute where pip took eight).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test lint bench clean services-deps
setup: $(VENV)/.installed

EXT := extensions
# a change to the frontend's sources rebuilds it on the next `make setup` / `make test`
EXT_SOURCES := $(EXT)/package.json $(EXT)/package-lock.json \
	$(wildcard $(EXT)/src/*.ts $(EXT)/style/*.css $(EXT)/style/*.js $(EXT)/style/icons/*.svg $(EXT)/schema/*.json)
UV_INSTALL = $(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt --compile-bytecode

$(VENV)/.installed: pyproject.toml constraints.txt $(EXT)/pyproject.toml $(EXT_SOURCES)
	python3 -m venv $(VENV)
	# torch first and pinned: the CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(PIP) torch==2.13.0 uv
	# compiled at install: uv writes no .pyc, and with PYTHONDONTWRITEBYTECODE (set on these
	# machines) every process then compiled mlflow & co. again: `import mlflow` 7 s -> 2 s
	$(UV_INSTALL) -e ".[dev]"
	# the JupyterLab extension: its frontend built by npm (exactly the lock) with this venv's
	# jupyter-builder, then the package, which puts it where `jupyter lab` looks (shared-data)
	cd $(EXT) && npm ci --no-audit --no-fund --loglevel=error && \
		PATH="$(abspath $(VENV))/bin:$$PATH" npm run build
	$(UV_INSTALL) --reinstall-package workbench-lab -e ./$(EXT)
	touch $@

demo: setup
	$(VENV)/bin/workbench demo

test: setup lint
	$(PY) -m compileall -q workbench apps tests  # our own code too, for the same reason
	cd $(EXT) && npm test --silent  # the frontend's pure modules (jest)
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15  # the slowest, for CI time

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy workbench

# Debian's postgresql (for `workbench services`) and chromium (browser tests), when missing
services-deps:
	bash .ci/system-packages

bench: setup
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_drift.py
	$(PY) benchmarks/bench_lab_api.py
	$(PY) benchmarks/bench_services.py
	$(PY) benchmarks/bench_governance.py

clean:
	rm -rf $(VENV) .workbench $(EXT)/node_modules $(EXT)/lib $(EXT)/workbench_lab/labextension \
		$(EXT)/tsconfig.tsbuildinfo
