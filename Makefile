# The commands of the README: `make run`, `make test` and `make test-unit`. Each makes the virtual environment
# and install exactly the pinned packages first; the Python code installs Kafka and influxd.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-unit lint bench chaos clean

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

# The tests that need no services (tests/unit and the packages' doctests), in under a minute.
test-unit: $(BIN)/openlab
	$(BIN)/pytest tests/unit streams sensors models dashboards $(ARGS)

chaos: $(BIN)/openlab
	$(BIN)/openlab chaos $(ARGS)

bench: $(BIN)/openlab
	$(BIN)/python -m bench $(or $(ARGS),all)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
