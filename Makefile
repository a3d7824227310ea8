# Customer Data Platform: one Makefile for the native (no Docker) path.
# Quick start on a fresh machine:  make up   then   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt constraints.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)

# CDP_KAFKA_NODES=3: a local cluster of three brokers, topics with three replicas
CDP_KAFKA_NODES ?= 1
export CDP_KAFKA_NODES
ifeq ($(CDP_KAFKA_NODES),3)
export CDP_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096
export CDP_TOPIC_REPLICATION_FACTOR ?= 3
export CDP_TOPIC_MIN_INSYNC_REPLICAS ?= 2
else
export CDP_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
endif
export CDP_PG_DSN ?= postgresql://cdp:cdp@127.0.0.1:5432/cdp
export CDP_REDIS_URL ?= redis://127.0.0.1:6379/0
# two uvicorn workers on the 2-core box: one per core; Kafka and the rest share them
export CDP_COLLECTOR_WORKERS ?= 2

.PHONY: help install lock infra-up infra-down infra-status up down logs status test test-unit lint bench chaos demo clean

help:
	@echo "make up          start Kafka, Postgres, Redis and every service (native, no Docker)"
	@echo "make test        install, start what the tests need, run the whole test suite"
	@echo "make down        stop the services and the infrastructure"
	@echo "make logs        follow the service logs"
	@echo "make lint        ruff + mypy"
	@echo "make bench       benchmarks (figures go to docs/performance.md)"
	@echo "make chaos       the fault suite's long form on a private platform (docs/reliability.md)"

$(STAMP): $(REQS)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -c constraints.txt -r requirements-dev.txt $(foreach s,$(wildcard services/*/pyproject.toml tools/*/pyproject.toml),-e $(dir $(s)))
	@touch $(STAMP)

install: $(STAMP)

lock: $(STAMP)
	@{ echo "# Every dependency pinned: all machines install this exact set (pip install -c constraints.txt)."; \
	   echo "# Regenerate with: make lock"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt
	@echo "constraints.txt updated"

infra-up:
	@bash deploy/local/infra.sh up

infra-down:
	@bash deploy/local/infra.sh down

infra-status:
	@bash deploy/local/infra.sh status

up: install infra-up
	@$(BIN)/cdp migrate
	@$(BIN)/cdp topics
	@bash deploy/local/services.sh up

down:
	@bash deploy/local/services.sh down
	@bash deploy/local/infra.sh down

status: infra-status
	@bash deploy/local/services.sh status

logs:
	@bash deploy/local/services.sh logs

test: install infra-up
	@bash deploy/local/browser.sh
	@bash deploy/local/clients.sh
	@bash deploy/helm/check.sh tools
	@$(BIN)/cdp migrate
	@$(BIN)/cdp topics >/dev/null
	$(BIN)/pytest

# The platform, a short simulation, and what happened (profiles, segments, leads, campaigns).
demo: up
	$(BIN)/cdp simulate --visitors $${CDP_DEMO_VISITORS:-300} --rate $${CDP_DEMO_RATE:-300} --report

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install infra-up
	@bash bench/run.sh

# The fault suite on a platform of its own (private Kafka, Postgres, Redis on free ports):
# every fault three times with longer outages. `make test` runs its short form.
chaos: install infra-up
	$(BIN)/python -m tests.chaos $${CDP_CHAOS_ARGS:-}

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
