# Handoff: `make run` starts everything locally; `make test` runs the whole suite.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN_DIR := .run

.PHONY: help setup run test lint format unit bench clean

help:
	@echo "make run    set up, start Kafka and the three services (SQLite), Ctrl-C stops"
	@echo "make test   set up and run lint, type checks and every test (real Kafka and PostgreSQL)"
	@echo "make lint   ruff and mypy only;  make unit  the tests that need no infrastructure"
	@echo "make bench  the benchmarks behind BENCHMARKS.md (several minutes; real stack)"

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv || \
		python3 -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --frozen --quiet

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: setup
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

test: lint
	$(UV) run pytest

unit: setup
	$(UV) run pytest -m "not integration"

bench: setup
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(UV) run python benchmarks/intake_webhooks.py
	$(UV) run python benchmarks/router_fairness.py
	$(UV) run python benchmarks/router_cluster.py --instances 1 --leads 40000 --capacity 100000
	$(UV) run python benchmarks/router_cluster.py --instances 3 --leads 2000 --capacity 150
	$(UV) run python benchmarks/sla_timers.py

run: setup
	$(UV) run python -m handoff_devstack.stack --run-dir $(RUN_DIR)

clean:
	rm -rf $(RUN_DIR) .pytest_cache .mypy_cache .ruff_cache
