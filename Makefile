# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/dev.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup lock synth run test test-unit test-component test-infra test-local-runtime test-e2e bench bench-soak lint schemas clean

# The dev environment is installed from the lock file, every wheel checked against its hash; synchub itself
# is then installed editable without resolving anything (`make lock` re-pins after a pyproject change).
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "synchub is locked and tested on Python 3.11 (the functions deploy on python3.11): set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

synth: setup            ## CDK synth into cdk.out (offline, no Docker)
	$(BIN)/python -m infra.app

run: synth              ## local hub on embedded moto + the demo, then keeps serving (Ctrl-C stops)
	$(BIN)/synchub local up --demo --no-synth $(ARGS)

test: synth             ## every layer in one run: unit, component, infra, local runtime, e2e (CONTRIBUTING.md)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: setup        ## tests/unit: pure logic, no emulator, network blocked; seconds, needs no synth
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-component: synth   ## tests/component: handlers and repositories against moto provisioned from the template
	$(BIN)/python -m pytest tests/component $(PYTEST_ARGS)

test-infra: synth       ## tests/infra: CDK assertions on the synthesized template, cfn-lint
	$(BIN)/python -m pytest tests/infra $(PYTEST_ARGS)

test-local-runtime: synth  ## tests/local_runtime: the local hub's emulator, pollers, persistence, HTTP front
	$(BIN)/python -m pytest tests/local_runtime $(PYTEST_ARGS)

test-e2e: synth         ## tests/e2e: the whole local hub over HTTP, and the CLI
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: synth            ## benchmarks (ratios against a baseline measured in the same run), then the soak
	$(BIN)/python -m benchmarks

bench-soak: synth       ## only the soak: 10,000 orders over HTTP through the local hub (SOAK_ORDERS=N to change)
	$(BIN)/python -m benchmarks.soak

lock:                   ## re-pin requirements/dev.lock (hashes) from pyproject.toml's dev extra, for Python 3.11 on Linux x86_64
	$(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/python -m pip install -q uv
	$(VENV)-lock/bin/uv pip compile pyproject.toml requirements/build.in --extra dev --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --index-url https://pypi.org/simple -o $(LOCK)

schemas: setup          ## regenerate events/schemas from the pydantic models
	$(BIN)/python -m synchub.contracts

.PHONY: openapi
openapi: setup          ## regenerate openapi/synchub.json (and the orders Lambda's copy) from the API's routes
	$(BIN)/python -m synchub.openapi

lint: synth            ## ruff + mypy on the code (as .pre-commit-config.yaml does), cfn-lint on the synthesized template
	$(BIN)/ruff check functions synchub infra benchmarks tests
	$(BIN)/ruff format --check functions synchub infra benchmarks tests
	$(BIN)/mypy  # functions synchub infra benchmarks: files and settings in pyproject.toml's [tool.mypy]
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/Synchub.template.json  # W3005: CDK's redundant DependsOn

clean:
	rm -rf cdk.out .synchub .pytest_cache build/code-asset
