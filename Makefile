# sharebus: `make run` sets up and runs the whole bus; `make test` runs the whole test suite.
# Both work on a fresh machine: they create .venv, install what is missing and start the stack.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-cluster lint unit integration soak bench down clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "sharebus needs Python 3.11, found " + sys.version' \
	  || (echo "install Python 3.11 (or run: make PYTHON=/path/to/python3.11)"; exit 1)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

## The main job: local stack + sample departments + capture + change generator (Ctrl-C stops it).
run: setup
	$(BIN)/sharebus run

## The whole test suite: lint, types, unit and integration tests (the stack starts and stops itself),
## then the 3-broker cluster's test.
test: setup lint
	$(BIN)/pytest
	$(MAKE) test-cluster

## A broker of a 3-node KRaft cluster SIGKILLed under a change stream: its own stack (runtime folder
## and ports beside the single-broker one; the fetched jars are shared), small heaps for 2 cores.
CLUSTER_RUNTIME := .runtime-cluster
CLUSTER_ENV := SHAREBUS_RUNTIME_DIR=$(CLUSTER_RUNTIME) SHAREBUS_KAFKA_BROKERS=3 \
	SHAREBUS_KAFKA_HEAP=384m SHAREBUS_CONNECT_HEAP=512m \
	SHAREBUS_KAFKA_BOOTSTRAP=127.0.0.1:19092 SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP=127.0.0.1:19094 \
	SHAREBUS_KAFKA_CONTROLLER_PORT=19093 SHAREBUS_REGISTRY_URL=https://127.0.0.1:18081 \
	SHAREBUS_CONNECT_URL=http://127.0.0.1:18083 SHAREBUS_PG_PORT=25532 SHAREBUS_MARIADB_PORT=23406 \
	SHAREBUS_WEB_PORT=16066
test-cluster: setup
	@mkdir -p .runtime/lib .runtime/plugins $(CLUSTER_RUNTIME)
	@for d in lib plugins; do test -e $(CLUSTER_RUNTIME)/$$d || ln -s ../.runtime/$$d $(CLUSTER_RUNTIME)/$$d; done
	$(CLUSTER_ENV) $(BIN)/pytest -m cluster tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

## Soak: the integration suite (or SOAK=<tests>) COUNT times in a row, stopping at the first
## failure — a test that fails once in twenty is a bug. E.g. `make soak SOAK=tests/integration/test_faults.py COUNT=5`.
SOAK  ?= tests/integration
COUNT ?= 3
soak: setup
	$(BIN)/pytest $(SOAK) --count=$(COUNT) --repeat-scope=session -x

## Benchmarks: print figures and ratios against baselines measured in the same run.
bench: setup
	$(BIN)/python -m bench.router.run
	$(BIN)/python -m bench.metrics.run

down: setup
	$(BIN)/sharebus stack down
	@if test -d $(CLUSTER_RUNTIME); then $(CLUSTER_ENV) $(BIN)/sharebus stack down; fi

clean: down
	rm -rf .runtime $(CLUSTER_RUNTIME)
