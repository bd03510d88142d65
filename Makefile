# streamrec — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LINT_PATHS := streams app tests $(wildcard bench/*.py)
STREAMREC := $(BIN)/streamrec
PYTEST_ARGS ?=
TOOLS := $(HOME)/.cache/streamrec/bin
HELM_VERSION := v3.22.0
HELM := $(TOOLS)/helm

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: system-deps
system-deps: ## install Java, Maven, redis-server, Chromium, Prometheus, docker-compose where missing (Debian)
	@bash .ci/system-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

$(HELM):
	@command -v go >/dev/null || { echo "go is needed to build helm ($(HELM_VERSION)) from the Go module proxy"; exit 1; }
	GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

.PHONY: tools
tools: $(HELM) ## build the pinned helm (go install) into ~/.cache/streamrec/bin

.PHONY: chart
chart: tools ## helm lint and render the chart with every ci/*-values.yaml
	@for f in helm/streamrec/ci/*-values.yaml; do $(HELM) lint --strict helm/streamrec -f $$f; done

.PHONY: venv
venv: $(VENV)/.installed ## create .venv with streamrec and its dev tools

.PHONY: stack-up
stack-up: system-deps venv ## start the local Kafka (KRaft) + Redis and wait until ready
	$(STREAMREC) stack up

.PHONY: stack-down
stack-down: ## stop the local stack (only what it started)
	@if [ -x $(STREAMREC) ]; then $(STREAMREC) stack down; fi

.PHONY: stack-status
stack-status: venv ## health of each local service
	$(STREAMREC) stack status

.PHONY: topics
topics: stack-up ## create the topics (idempotent)
	$(STREAMREC) topics create

.PHONY: demo
DEMO_ARGS ?=
demo: stack-up ## the main job: stack, worker, MovieLens-100K replay, a user's top-10 (DEMO_ARGS=--exit)
	$(STREAMREC) demo $(DEMO_ARGS)

.PHONY: lint
lint: venv ## ruff (lint + format check) and mypy
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

.PHONY: format
format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

.PHONY: test
test: stack-up lint tools ## everything: install, start the stack, lint, run the whole suite
	STREAMREC_HELM=$(HELM) $(BIN)/pytest $(PYTEST_ARGS)

FAULT_TESTS = tests/integration/test_redis_failover.py tests/integration/test_redis_wire_faults.py \
	tests/integration/test_kafka_broker_loss.py tests/integration/test_engine_crash.py \
	tests/integration/test_redis_outage.py tests/integration/test_redis_cluster.py \
	tests/integration/test_kafka_wire_faults.py

.PHONY: test-faults
test-faults: stack-up tools ## the fault scenarios on the whole of MovieLens-100K (~23 min; docs/reliability.md)
	STREAMREC_FAULTS=full $(BIN)/pytest $(FAULT_TESTS)

.PHONY: clean
clean: stack-down ## stop the stack and remove local state (data, venv, caches)
	rm -rf .state $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
