# The two commands of the README, and the local split mode.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ADDR ?= 127.0.0.1:8000
WORKERS ?= 2

.PHONY: run test lint split requirements screenshots

# The virtualenv, rebuilt whenever the pins change.
$(VENV)/installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Serve the chat on runserver: SQLite and the in-memory channel layer, no services.
run: $(VENV)/installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runserver $(ADDR)

# Lint, then the whole test suite.
test: $(VENV)/installed lint
	$(BIN)/pytest

# Take the pictures in docs/screenshots/ again (headless Chromium, the real split).
screenshots: $(VENV)/installed
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser/test_screenshots.py

lint: $(VENV)/installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Procfile's web, worker, thumbs and delay process types, against REDIS_URL and
# DATABASE_URL (from the environment or a .env file), with WORKERS workers.
split: $(VENV)/installed
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho run python manage.py migrate --noinput
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho run python manage.py collectstatic --noinput -v0
	PATH=$(CURDIR)/$(BIN):$$PATH PORT=$${PORT:-8000} $(BIN)/honcho start -c worker=$(WORKERS) web worker thumbs delay

# Re-pin requirements*.txt from requirements*.in.
requirements: $(VENV)/installed
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url requirements.in
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url requirements-dev.in
