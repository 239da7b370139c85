# The two commands of the README: `make run` and `make test`. Both make the virtual environment
# and install exactly the pinned packages first; the Python code installs Kafka and influxd.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench chaos clean

$(BIN)/openlab: pyproject.toml constraints.txt examples/congestion/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]' -e examples/congestion
	touch $@

run: $(BIN)/openlab
	$(BIN)/openlab run $(ARGS)

lint: $(BIN)/openlab
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(ARGS)

chaos: $(BIN)/openlab
	$(BIN)/openlab chaos $(ARGS)

bench: $(BIN)/openlab
	$(BIN)/python -m bench $(or $(ARGS),all)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
