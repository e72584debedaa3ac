# tgshop developer tasks. `make` (or `make help`) lists them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help install demo serve test lint typecheck format bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/tgshop: requirements/dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/dev.txt -e .
	@touch $@

install: $(BIN)/tgshop ## create .venv with pinned dependencies and tgshop (editable)

demo: install ## run the offline demo shop on http://127.0.0.1:8080
	$(BIN)/tgshop demo

serve: install ## run the service with the current configuration
	$(BIN)/tgshop serve

test: install ## run the whole test suite (SQLite and, when reachable, PostgreSQL/Redis)
	$(BIN)/pytest

lint: install ## ruff lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install ## mypy (strict for domain/ and services/)
	$(BIN)/mypy

format: install ## apply ruff formatting and safe fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install ## every benchmark: checkout, sandbox, bot, payments, Mini App API and first render
	$(BIN)/python -m bench.checkout
	$(BIN)/python -m bench.sandbox
	$(BIN)/python -m bench.bot
	$(BIN)/python -m bench.payments
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.miniapp

lock: ## re-pin requirements/*.txt from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --python-version 3.11 -q -o requirements/base.txt
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements/dev.txt

clean: ## remove the virtualenv, caches and ./var
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
