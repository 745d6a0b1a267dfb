# `make demo` and `make test` build .venv from requirements.lock on first use.
# GPU nodes: make demo TORCH_INDEX=https://download.pytorch.org/whl/cu126  (any CUDA build of torch 2.13.0)
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
# Training rules declare gpu=1 and the local profile runs one at a time (one GPU); on a machine
# without GPUs the cores are the only limit.
GPUS ?= $(shell nvidia-smi -L 2>/dev/null | wc -l)
TORCH_INDEX ?=
BIN := $(VENV)/bin

.PHONY: venv demo test test-fast lint report clean-venv

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

# The demo writes report.html at the end of the same Snakemake run (a second `snakemake --report` costs ~5 s more).
demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --profile profiles/local --resources gpu=$(if $(filter 0,$(GPUS)),$(CORES),$(GPUS)) \
		--report report.html --report-after-run

# Tests come in tiers, pytest markers registered in pyproject.toml: workflow (starts a real Snakemake run on a tiny
# config), slurm (the workflow on a real single-node SLURM cluster: needs root and apt-get), gpu (needs CUDA), slow
# (a unit test that trains for a while). `make test` runs every tier (the README's command; what CI runs);
# `make test-fast` runs the rest (unit tests, dry runs, lint) in under 3 minutes. Both print the 15 slowest tests.
# Both spread the tests over pytest-xdist workers, a test file staying in one worker (its module fixtures run once;
# each worker's torch and Snakemake runs take one thread). `make test-fast` runs one per core; `make test` one more,
# as its workers' Snakemake runs leave their core idle while they start, import and poll (2 cores, the same tests:
# 19.3 minutes with 4 workers, 22.9 with 3), and one for the SLURM file, which it takes first and which mostly waits
# on the cluster (tests/conftest.py orders the files).
# One tier alone: .venv/bin/pytest -m workflow
test: $(BIN)/.installed
	$(BIN)/pytest -n $$(($(CORES) + 2)) --dist loadfile --no-loadscope-reorder

test-fast: $(BIN)/.installed
	$(BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder -m "not workflow and not slurm and not gpu and not slow"

report: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --report report.html

clean-venv:
	rm -rf $(VENV)
