# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INPUT_HASH := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(INPUT_HASH)
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt setuptools wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-build-isolation -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quantrl demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

lint: $(STAMP)
	$(BIN)/ruff check quantrl strategies tests benchmarks
	$(BIN)/ruff format --check quantrl strategies tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_data
	$(BIN)/python -m benchmarks.bench_backtest
	$(BIN)/python -m benchmarks.bench_alpha
	$(BIN)/python -m benchmarks.bench_envs
	$(BIN)/python -m benchmarks.bench_mining --minutes 2

clean:
	rm -rf $(VENV) .pytest_cache
