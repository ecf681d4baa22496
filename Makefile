# Two commands on a fresh clone (Python 3.11+ and make): `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo-registry.db
# The demo's logins are printed once by `msreg demo`; for this synthetic registry they are
# also kept next to it (git-ignored, owner-only) so that every `make demo` can show them again.
DEMO_LOGINS ?= demo-logins.txt
# `make demo PORT=8502`; without PORT, $$STREAMLIT_SERVER_PORT, else 8501.
PORT ?=

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## Build the synthetic demo registry (if absent) and start the dashboard on http://localhost:8501 (or PORT)
demo: install
	@if test -f $(DEMO_DB); then \
		cat $(DEMO_LOGINS) 2>/dev/null || echo "(no $(DEMO_LOGINS): add accounts with \`msreg --db $(DEMO_DB) user add\`)"; \
	else \
		($(BIN)/msreg --db $(DEMO_DB) init && $(BIN)/msreg --db $(DEMO_DB) demo --logins-file $(DEMO_LOGINS)) \
			|| (rm -f $(DEMO_DB) $(DEMO_LOGINS); exit 1); \
	fi
	$(BIN)/msreg --db $(DEMO_DB) dashboard $(if $(PORT),--port $(PORT))

## Run the whole test suite (SQLite always; PostgreSQL when a server answers), in TEST_WORKERS
## processes (pytest-xdist; one test file stays in one process, so its fixtures are built once)
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_LOGINS) .pytest_cache
