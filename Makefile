# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Both create ./.venv on first use. Why two installs: the demo is a two-minute training, so it
# installs only what it needs (the package with its `cli` extra: NumPy, matplotlib, Pillow, tqdm;
# about 200 MB); the test tools (pytest, Jupyter, the web server, Playwright, ONNX, PyTorch CPU:
# more than a gigabyte) come with `make test`, on top of the same .venv. Each install leaves a
# stamp file in .venv: `make test` after `make demo` adds only the rest, `make demo` after
# `make test` installs nothing, and editing pyproject.toml reinstalls at the next run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# PyTorch pinned to its CPU build: a bare `torch` pulls the multi-gigabyte CUDA build.
TORCH  := torch==2.13.0

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[cli]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-demo
	$(PY) -m pip install --quiet -e '.[dev,export]'
	-$(PY) -m pip install --quiet '$(TORCH)' || echo "torch not installable here: PyTorch export tests will skip (and fail under CI=true)"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	-$(PY) -m pip install --quiet '$(TORCH)' || echo "torch not installable here: PyTorch rows will be skipped"
	touch $@

demo: $(VENV)/.installed-demo
	$(VENV)/bin/mitbadak train --out runs/demo --overwrite
	$(VENV)/bin/mitbadak evaluate runs/demo/model.npz --out runs/demo/eval
	@echo "Model, metrics and plots: runs/demo/ (evaluation: runs/demo/eval/)"
	@echo "To run mitbadak yourself: source $(VENV)/bin/activate (or call $(VENV)/bin/mitbadak)"

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
