# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Both create ./.venv on first use and install the package with what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench lint clean

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,export]'
	-$(PY) -m pip install --quiet 'torch==2.13.0' || echo "torch not installable here: PyTorch export tests will skip (and fail under CI=true)"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	-$(PY) -m pip install --quiet 'torch==2.13.0' || echo "torch not installable here: PyTorch rows will be skipped"
	touch $@

demo: $(VENV)/.installed-dev
	$(VENV)/bin/mitbadak train --out runs/demo --overwrite
	$(VENV)/bin/mitbadak evaluate runs/demo/model.npz --out runs/demo/eval
	@echo "Model, metrics and plots: runs/demo/ (evaluation: runs/demo/eval/)"

# pytest exits 5 when it collected no tests; that must fail, not pass silently.
test: $(VENV)/.installed-dev
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info .pytest_cache
