# Green Button Data Custodian portal. `make run` serves it with demo data; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := custodian.settings

.PHONY: help install messages run serve test cov lint fmt migrations-check check-deploy bench bench-async-full clean

help:
	@echo "make run            set up, migrate, seed demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test           run the whole test suite (DATABASE_URL=postgresql://... for PostgreSQL)"
	@echo "make cov            the test suite under coverage (branch), with the report"
	@echo "make lint           ruff format --check, ruff check, and mypy on the apps"
	@echo "make bench          benchmarks (ratios against raw lxml measured in the same run)"
	@echo "make bench-async-full  the asynchronous bulk at 20,000 usage points x 30 days"
	@echo "make check-deploy   manage.py check --deploy with production-like variables"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# axe-core for the browser tests' accessibility checks (test-only; nothing is built or served).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# English and Spanish: the .po catalogues are in the repository, the compiled .mo files are built.
messages: $(VENV)/.installed
	$(PY) manage.py compilemessages --verbosity 0 --ignore .venv --ignore node_modules

install: $(VENV)/.installed node_modules/.installed messages

# Served URLs follow HOST and PORT (hrefs, resourceURI, issuer, demo.json) unless PORTAL_BASE_URL is set.
run serve: export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)

run: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo --json demo.json
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

serve: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput
	$(VENV)/bin/gunicorn custodian.wsgi --bind $(HOST):$(PORT) --workers 2 --timeout 120

# Tests close connections after each request: live-server and race-test threads must not keep the
# test database open when it is dropped.
test: install
	DJANGO_CONN_MAX_AGE=0 $(PY) -m pytest

cov: install
	DJANGO_CONN_MAX_AGE=0 $(PY) -m coverage run -m pytest -q
	$(PY) -m coverage report

lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

fmt: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

check-deploy: install
	DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	DJANGO_ALLOWED_HOSTS=portal.example.com DJANGO_HTTPS=1 \
	$(PY) manage.py check --deploy --fail-level WARNING

bench: install
	$(PY) -m bench

# The asynchronous bulk at utility scale: 20,000 usage points x 30 days of 15-minute readings.
bench-async-full: install
	$(PY) -m bench bulk_async --full

clean:
	rm -rf $(VENV) node_modules db.sqlite3 demo.json var bench/out
