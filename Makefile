# Ironyard: `make run` brings the demo portal up, `make test` runs the whole suite.
# Both create .venv with a Python >= 3.12 found on PATH or through pyenv.

SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
HOST  ?= 127.0.0.1
PORT  ?= 8000

# A Python >= 3.12: PYTHON if given, else python3.12 / python3.13 / python3 on PATH, else pyenv's
# newest installed 3.12+ (3.12 first: sushy-tools' WebOb still imports `cgi`, gone in 3.13).
define find_python
ok() { "$$1" -c 'import sys; sys.exit(not (3, 12) <= sys.version_info[:2])' >/dev/null 2>&1; }; \
for c in $(PYTHON) python3.12 python3.13 python3; do \
  p=$$(command -v $$c 2>/dev/null) && ok "$$p" && { echo "$$p"; exit 0; }; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  root=$$(pyenv root); \
  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[2-9](\.[0-9]+)?$$' | sort -t. -k2,2n -k3,3n); do \
    p="$$root/versions/$$v/bin/python3"; ok "$$p" && { echo "$$p"; exit 0; }; \
  done; \
fi; \
exit 1
endef

.PHONY: run test lint format check-deploy clean help bench-provision bench-api bench-allocation \
	bench-ledger-sql bench-vm

help:
	@echo "make run           start the demo portal (web, worker, beat) on http://$(HOST):$(PORT)/"
	@echo "make test          lint, system checks and the whole test suite"
	@echo "make lint | format ruff"
	@echo "make check-deploy  Django's deployment checks with production-like settings"

$(BIN)/python:
	@py=$$($(find_python)) || { \
	  echo "error: Ironyard needs Python 3.12 or newer; none was found on PATH or in pyenv." >&2; \
	  echo "       Install python3.12 (or set PYTHON=/path/to/python3.12) and run make again." >&2; \
	  exit 1; }; \
	echo "Creating $(VENV) with $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# The web and worker processes write their metrics to var/metrics (prometheus-client's
# multiprocess mode), emptied before they start: what /metrics adds up is this run's.
# VMS=N adds N real QEMU virtual machines (plan v1.small.x86 in sv15) to the virtual rack, with
# Debian 12 built (once; cached in ARTIFACTS_DIR) and registered in the catalogue: deploy one
# and SSH in with the command its page shows. Their guests reach the portal as 10.0.2.100.
VMS ?= 0

run: $(VENV)/.installed
	@export IRONYARD_INSECURE_HTTP=1; \
	$(BIN)/python manage.py migrate --no-input -v 0 && \
	$(BIN)/python manage.py collectstatic --no-input -v 0 && \
	$(BIN)/python manage.py seed_demo && \
	if [ "$(VMS)" != 0 ]; then \
	  echo "Building (or finding) the installer and the Debian 12 image for $(VMS) VMs…" && \
	  $(BIN)/python manage.py build_image debian-12 --register || exit 1; \
	fi && \
	echo && echo "  Ironyard is starting at http://$(HOST):$(PORT)/" && \
	echo "  Log in as demo@ironyard.local with password ironyard-demo  (Ctrl-C stops everything)" && \
	echo && \
	rm -rf var/metrics && mkdir -p var/metrics && \
	PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/var/metrics" VMS=$(VMS) \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],10.0.2.100}" \
	HOST=$(HOST) PORTAL_URL=http://$(HOST):$(PORT) SITE_URL="$${SITE_URL:-http://$(HOST):$(PORT)}" \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile -p $(PORT)

# equinix-metal 0.11.0 cannot share .venv with equinix 0.19.0 (urllib3 pins): its own, for the
# live device story (tests/provisioning/api/test_live_equinix_metal.py).
$(VENV)-equinix-metal/.installed: tests/clients/equinix-metal.txt | $(BIN)/python
	$(BIN)/python -m venv $(VENV)-equinix-metal
	$(VENV)-equinix-metal/bin/pip install --quiet -r tests/clients/equinix-metal.txt
	@touch $@

# The ledger's hand-written SQL (provisioning/ledger/sql.py) runs on SQLite too, `make run`'s
# database: the boot path's and the ledger's tests run once more there.
test: $(VENV)/.installed $(VENV)-equinix-metal/.installed lint
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest
	env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL $(BIN)/pytest -q tests/provisioning/boot \
	  $(wildcard tests/provisioning/test_*.py)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Production-like settings; the boot path's networks may be given (set but empty, the boot path
# would answer every address, which this check refuses).
check-deploy: $(VENV)/.installed
	BOOT_ALLOWED_NETWORKS="$${BOOT_ALLOWED_NETWORKS-10.250.0.0/16}" \
	SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
	SECRETS_ENCRYPTION_KEY=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//} \
	ALLOWED_HOSTS=ironyard.example.com EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# Benchmarks (not tests): each prints its figures and ratios. They need PostgreSQL
# (BENCH_DATABASE_URL's server; a scratch database is created and dropped).
BENCH_DB_SERVER ?= postgres://postgres@127.0.0.1:5432
SERVERS ?= 1000

bench-provision: $(VENV)/.installed
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE IF EXISTS ironyard_bench' -c 'CREATE DATABASE ironyard_bench'
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench $(BIN)/python manage.py migrate -v 0
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench $(BIN)/python manage.py bench_provision --servers $(SERVERS)

# The device list (per_page=100, DEVICES in one project, rendered on every request) against a
# bare Django view returning the same bytes, both under gunicorn with 2 sync workers: requests/s,
# ratio, CPU, queries; then polled while 200 devices of the project provision (a worker on
# CELERY_BROKER_URL and a virtual rack): p50/p99 latency. The rate limits count in
# BENCH_REDIS_URL, as in production.
DEVICES ?= 10000
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/2

bench-api: $(VENV)/.installed
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE IF EXISTS ironyard_bench_api' -c 'CREATE DATABASE ironyard_bench_api'
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_api $(BIN)/python manage.py migrate -v 0
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_api REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python manage.py bench_api --devices $(DEVICES)

# The ledger's hand-written statements against their ORM twins (CPU per call, ratio): a statement
# stays hand-written only where it is at least twice as cheap.
bench-ledger-sql: $(VENV)/.installed
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE IF EXISTS ironyard_bench_sql' -c 'CREATE DATABASE ironyard_bench_sql'
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_sql $(BIN)/python manage.py migrate -v 0
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_sql $(BIN)/python manage.py bench_ledger_sql

# Creating one device and a batch of ten (provisioning.services.create_devices), the machine claim
# and the capacity report with 1k / 10k / 100k available machines, then at 100k with 0 / 30k /
# 150k IP reservations in the metro: each case's median time and queries, and the ratios.
bench-allocation: $(VENV)/.installed
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE IF EXISTS ironyard_bench_alloc' -c 'CREATE DATABASE ironyard_bench_alloc'
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_alloc $(BIN)/python manage.py migrate -v 0
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_alloc $(BIN)/python manage.py bench_allocation
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE ironyard_bench_alloc'

# Real provisioning, timed: VMS QEMU VMs (default 2) deployed with Debian 12 from one batch
# request; each one's time to active and to an SSH login, by phase, and against its own plain
# boot (power off, on) as the baseline.
bench-vm: $(VENV)/.installed
	psql $(BENCH_DB_SERVER)/postgres -qc 'DROP DATABASE IF EXISTS ironyard_bench_vm' -c 'CREATE DATABASE ironyard_bench_vm'
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_vm $(BIN)/python manage.py migrate -v 0
	DATABASE_URL=$(BENCH_DB_SERVER)/ironyard_bench_vm $(BIN)/python manage.py bench_vm --vms $(if $(filter-out 0,$(VMS)),$(VMS),2)
