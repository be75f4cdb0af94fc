# ccai-airflow: `make test` sets up .venv (if missing) and runs lint, types and tests;
# `make demo` runs the example pipeline against the bundled emulator.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo e2e venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check ccai_airflow tests e2e benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy ccai_airflow benchmarks e2e

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python -m ccai_airflow.demo --workdir .demo

e2e: $(STAMP)
	$(BIN)/python e2e/run_e2e.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .airflow .demo .e2e .mypy_cache .ruff_cache .pytest_cache *.egg-info
