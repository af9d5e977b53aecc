# The README's two commands, spelled out. `make run` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench stress reproduce verdicts

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
	HYPOTHESIS_PROFILE=stress $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py tests/test_fuzz_store.py --hypothesis-show-statistics
	$(BIN)/python tests/stress.py --kills 24 --dask-kills 8 --out stress.json

# every claim's full grid on fresh seeds into benign-reproduce/ (about 2.5 hours on 2 cores),
# its verdict JSON kept in docs/verdicts/, then the verdict tables written from those JSONs
SEED ?= 3000
reproduce: $(BIN)/python
	$(BIN)/pip install -q -e .
	mkdir -p docs/verdicts
	for name in $$($(BIN)/python -c "from benign.reproductions import CLAIMS; print(*CLAIMS)"); do \
	  $(BIN)/benign reproduce $$name --first-seed $(SEED) --workers 2 || exit 1; \
	  cp benign-reproduce/$$name-seed$(SEED).json docs/verdicts/; \
	done
	$(MAKE) verdicts SEED=$(SEED)

# the verdict tables of the README and docs/reproductions.md, from docs/verdicts/*.json
verdicts: $(BIN)/python
	$(BIN)/benign reproduce --summary --dir docs/verdicts --first-seed $(SEED) \
	  --write README.md --write docs/reproductions.md
