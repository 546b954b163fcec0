# The two commands of the README, and a few helpers.
#   make demo   the demo site on http://127.0.0.1:8000/admin/
#   make test   linters, then the whole suite on SQLite and on PostgreSQL (installing
#               PostgreSQL, Chromium, nginx, curl and Redis from Debian's packages if
#               missing)
#   make bench  downloads against the database's own CSV and the alternatives
#               (LINES=500000 by default, a few minutes; LINES=16000000 the full run;
#               DATABASES=postgresql to leave SQLite out; PATHS=orm or copy for one
#               PostgreSQL row path; FORMATS=csv or xlsx for one file format)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_LINES ?= 200000
# make bench: order lines of the benchmark's dataset (16000000 for the full run).
LINES ?= 500000
DATABASES ?= postgresql,sqlite
PATHS ?= copy,orm
FORMATS ?= csv,xlsx

.PHONY: demo test test-deps lint pytest-sqlite pytest-postgres bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed-demo
	env -u DATABASE_URL $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL $(BIN)/python manage.py setup_demo --lines $(DEMO_LINES) \
		--url http://$(HOST):$(PORT)/admin/
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	env -u DATABASE_URL scripts/serve-demo $(BIN) $(HOST) $(PORT)

# The two databases' runs side by side (most of a run is waiting on servers, browsers
# and slow queries); -O prints each run's output whole when it ends.
test: lint test-deps
	$(MAKE) --no-print-directory -j2 -O pytest-sqlite pytest-postgres

test-deps:
	scripts/install-test-deps

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

pytest-sqlite: $(VENV)/.installed-test
	@echo "== pytest on SQLite =="
	env -u DATABASE_URL $(BIN)/pytest

pytest-postgres: $(VENV)/.installed-test
	@echo "== pytest on PostgreSQL =="
	scripts/with-postgres $(BIN)/pytest

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .import_linter_cache

bench: $(VENV)/.installed-test test-deps
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0  # the admin's pages need them
	scripts/with-postgres $(BIN)/python bench/run.py --lines $(LINES) --databases $(DATABASES) --paths $(PATHS) --formats $(FORMATS)

soak: $(VENV)/.installed-test
	scripts/with-postgres $(BIN)/python bench/soak.py
