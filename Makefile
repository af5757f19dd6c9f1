# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INPUT_HASH := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
BASE_STAMP := $(VENV)/.installed-base-$(INPUT_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(INPUT_HASH)
NB_STAMP := $(VENV)/.installed-notebooks-$(INPUT_HASH)
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench notebooks clean

install: $(DEV_STAMP)

# the library and what the demo needs
$(BASE_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt setuptools wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-build-isolation -e .
	@rm -f $(VENV)/.installed-base-*
	@touch $@

# plus tests, benchmarks and the peers they compare with
$(DEV_STAMP): $(BASE_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-build-isolation -e ".[dev]"
	@rm -f $(VENV)/.installed-dev-*
	@touch $@

# plus JupyterLab for the research notebooks
$(NB_STAMP): $(BASE_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-build-isolation -e ".[notebooks]"
	@rm -f $(VENV)/.installed-notebooks-*
	@touch $@

demo: $(BASE_STAMP)
	$(BIN)/quantrl demo

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

notebooks: $(NB_STAMP)
	$(BIN)/jupyter lab notebooks/

lint: $(DEV_STAMP)
	$(BIN)/ruff check quantrl strategies tests benchmarks
	$(BIN)/ruff format --check quantrl strategies tests benchmarks

bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.bench_data
	$(BIN)/python -m benchmarks.bench_backtest
	$(BIN)/python -m benchmarks.bench_alpha
	$(BIN)/python -m benchmarks.bench_envs
	$(BIN)/python -m benchmarks.bench_mining --minutes 2
	$(BIN)/python -m benchmarks.bench_grammar --warm 4000 --repeats 1

clean:
	rm -rf $(VENV) .pytest_cache
