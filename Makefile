# The README's two commands, spelled out. `make run` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench stress

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

run: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/benign demo

test: $(BIN)/python
	sh tests/setup-browser.sh
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/python
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

# the benchmark suite: benchmarks/results/*.json and the tables of docs/performance.md
bench: $(BIN)/python
	$(BIN)/python -m benchmarks

# hostile input fuzzed by the thousand, then the kill campaign (tests/stress.py): see docs/reliability.md
stress: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	HYPOTHESIS_PROFILE=stress $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py --hypothesis-show-statistics
	$(BIN)/python tests/stress.py --kills 24 --dask-kills 8 --out stress.json
