# ccai-airflow: `make test` sets up .venv (if missing or stale) and runs lint, types and tests;
# `make demo` runs the example pipeline against the bundled emulator (ARGS="--weeks 2" for two weeks).
#
# AIRFLOW picks the Airflow minor: 3.3 (the default) lives in .venv, the others in .venv-<minor>,
# e.g. `make pytest AIRFLOW=3.1`. PYTHON picks the interpreter: another Python than 3.11 gets its own
# venv, .venv-py<python> or .venv-<minor>-py<python>, e.g. `make pytest-python PYTHON=python3.13`.
# Every venv is installed with constraints/constraints-<minor>.txt (or constraints-<minor>-py<python>.txt
# where that exists) and reinstalled only when pyproject.toml or that file changes.
PYTHON ?= python3
AIRFLOW ?= 3.3
DEFAULT_AIRFLOW := 3.3
DEFAULT_PYTHON_VERSION := 3.11
SUPPORTED_AIRFLOW := 3.1 3.2 3.3
ifeq ($(filter $(AIRFLOW),$(SUPPORTED_AIRFLOW)),)
$(error AIRFLOW=$(AIRFLOW) is not supported; use one of: $(SUPPORTED_AIRFLOW))
endif
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYTHON_VERSION),)
$(error PYTHON=$(PYTHON) does not run; give the path of a Python 3.11+ interpreter)
endif
ifeq ($(AIRFLOW),$(DEFAULT_AIRFLOW))
VENV := .venv
else
VENV := .venv-$(AIRFLOW)
endif
ifneq ($(PYTHON_VERSION),$(DEFAULT_PYTHON_VERSION))
VENV := $(if $(filter .venv,$(VENV)),.venv-py$(PYTHON_VERSION),$(VENV)-py$(PYTHON_VERSION))
endif
CONSTRAINTS := $(firstword $(wildcard constraints/constraints-$(AIRFLOW)-py$(PYTHON_VERSION).txt) \
	constraints/constraints-$(AIRFLOW).txt)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest pytest-airflow pytest-python demo e2e e2e-distributed venv clean bench bench-deployment constraints wheel-smoke

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check ccai_airflow dags tests e2e benchmarks scripts examples

typecheck: $(STAMP)
	$(BIN)/mypy ccai_airflow dags benchmarks e2e scripts

# Most tests wait on the emulator's timers, not the CPU: two pytest-xdist workers (each with its own
# Airflow home, SQLite database and emulators) overlap those waits. loadgroup keeps an xdist_group's
# tests on one worker. PYTEST_WORKERS=0 runs everything in this one process.
PYTEST_WORKERS ?= 2
# The suite runs in the throwaway Airflow home the test kit makes, never a shell's (tests/conftest.py).
PYTEST := env -u AIRFLOW_HOME $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

pytest: $(STAMP)
	$(PYTEST)

# The tests whose behaviour depends on the Airflow minor (not those marked airflow_independent: the
# emulator and the domain core), for the other minors of CI's matrix.
pytest-airflow: $(STAMP)
	$(PYTEST) -m "not airflow_independent"

# The tests whose behaviour depends on the Python version, for CI's other Python: the airflow_independent
# ones (the domain core, the emulator, the kit: pure Python, run nowhere else on that Python) and the
# asyncio paths through Airflow (python_smoke). The rest of the Airflow-dependent tests run on 3.11 with
# every minor; docs/development.md gives the numbers behind the split.
pytest-python: $(STAMP)
	$(PYTEST) -m "airflow_independent or python_smoke"

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python -m ccai_airflow.demo --workdir .demo $(ARGS)

e2e: $(STAMP)
	$(BIN)/python e2e/run_e2e.py

# CeleryExecutor (Redis), two workers, two triggerers: failover, API outage, database restart, scheduler kill,
# and the polling budget across triggerers as the emulator counts it. ARGS="--runs 50" for a shorter run.
e2e-distributed: $(STAMP)
	$(BIN)/python e2e/run_e2e_distributed.py $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# One real triggerer on PostgreSQL holding 1,000 deferred sensors, ours and a peer's; not in CI (writes
# benchmarks/results-deployment.json). ARGS="--triggers 200" for a shorter run.
bench-deployment: $(STAMP)
	$(BIN)/python benchmarks/deployment_capacity.py $(ARGS)

# Regenerate constraints/constraints-<minor>.txt in throwaway venvs (.constraints-build/), from pip's
# resolution bounded by constraints/pins-<minor>.in. `make constraints MINORS=3.2` for one minor.
MINORS ?= $(SUPPORTED_AIRFLOW)
constraints:
	$(PYTHON) scripts/make_constraints.py $(MINORS)

# Build the sdist and wheel, install the wheel (not editable) into a fresh venv with the default
# minor's constraints and check it from outside the checkout.
wheel-smoke: $(STAMP)
	$(BIN)/python scripts/wheel_smoke.py --constraints $(CONSTRAINTS)

clean:
	rm -rf .venv .venv-* .constraints-build .wheel-smoke .ci-logs .airflow .demo .e2e .e2e-distributed .bench-deployment .mypy_cache .ruff_cache \
		.pytest_cache *.egg-info build dist
