# Two commands on a fresh clone (each sets up what it needs, reuses it the second time, and prints each step):
#   make sweep                  # .venv + CPU torch + the extras, then experiments/sweep.py --trials 20
#   make sweep ARGS="--trials 5"  # extra sweep options
#   make test                   # .venv + torch + .[test], then the test suite (what .ci/run calls)
# VENV=path uses another virtual environment; PYTHON=python3.12 picks the interpreter that creates it.
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
PY := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1
TORCH_ANY := "torch>=2.4" "torchvision>=0.19"
# extras installed: stamp files in the venv, so that a second call skips the install
STAMP := $(VENV)/.munit-ablate

.PHONY: sweep test venv torch
sweep: $(STAMP)-run
	@echo "==> $(PY) experiments/sweep.py --trials 20 $(ARGS)"
	$(PY) experiments/sweep.py --trials 20 $(ARGS)

test: $(STAMP)-test
	@echo "==> $(PY) -m pytest -q -n 2 --dist loadfile"
	$(PY) -m pytest -q -n 2 --dist loadfile

venv: $(PY)
$(PY):
	@echo "==> creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch from this machine's local wheels (a CUDA build that also runs on CPU); elsewhere any torch >= 2.4
# (on a CPU-only machine, install the CPU wheels into $(VENV) first: README, Quick start)
torch: $(STAMP)-torch
$(STAMP)-torch: | $(PY)
	@echo "==> installing torch into $(VENV)"
	$(PY) -m pip install -q $(TORCH) || $(PY) -m pip install -q $(TORCH_ANY)
	@touch $@

$(STAMP)-run: pyproject.toml $(STAMP)-torch
	@echo "==> installing munit-ablate with the experiments and analysis extras into $(VENV)"
	$(PY) -m pip install -q -e ".[experiments,analysis]"
	@touch $@

$(STAMP)-test: pyproject.toml $(STAMP)-torch
	@echo "==> installing munit-ablate with the test extras into $(VENV)"
	$(PY) -m pip install -q -e ".[test]"
	@touch $@ $(STAMP)-run
