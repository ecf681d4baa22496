# Two commands on a fresh clone (Python 3.11+ and make): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo-registry.db

.PHONY: demo test install install-browser clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## Build the synthetic demo registry (if absent) and start the dashboard on http://localhost:8501
demo: install
	@test -f $(DEMO_DB) || ($(BIN)/msreg --db $(DEMO_DB) init && $(BIN)/msreg --db $(DEMO_DB) demo)
	$(BIN)/msreg --db $(DEMO_DB) dashboard

## Run the whole test suite (SQLite always; PostgreSQL when a server answers)
test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm .pytest_cache
