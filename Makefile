# sndslab developer entry points. On a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# The default run: no heavy tests, no test needing a schema-snds checkout (see pyproject markers).
DEFAULT_MARKERS := not slow and not needs_schema_snds
SNDSLAB_SCHEMA_SNDS ?= ../shared/reference/schema-snds

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-slow test-schema lint typecheck bench clean

help:
	@echo "make demo   - install into $(VENV) (first time) and run the end-to-end demo into demo_out/"
	@echo "make test   - ruff check, mypy, then pytest -n $(PYTEST_WORKERS) -m '$(DEFAULT_MARKERS)'"
	@echo "make test-slow   - the heavy tests only: pytest -n $(PYTEST_WORKERS) -m slow"
	@echo "make test-schema - registry vs a schema-snds checkout (SNDSLAB_SCHEMA_SNDS)"
	@echo "make bench  - run the benchmark scripts in benchmarks/"
	@echo "make clean  - remove $(VENV), demo_out/ and caches"

venv: $(STAMP)

# Re-install only when pyproject.toml changes (the package itself is installed editable).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sndslab demo --out demo_out --overwrite
	@echo "open the dashboard: $(BIN)/sndslab dashboard demo_out/released  (http://127.0.0.1:8050/)"

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks) $(wildcard tools)

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: an empty run is a failure, said plainly.
test: lint typecheck
	@$(BIN)/pytest -n $(PYTEST_WORKERS) -m "$(DEFAULT_MARKERS)"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

test-slow: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m slow

test-schema: $(STAMP)
	SNDSLAB_SCHEMA_SNDS="$(SNDSLAB_SCHEMA_SNDS)" $(BIN)/pytest -m needs_schema_snds

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_events.py
	$(BIN)/python benchmarks/bench_opendamir.py
	$(BIN)/python benchmarks/bench_supply_demand.py
	$(BIN)/python benchmarks/bench_pathways.py
	$(BIN)/python benchmarks/bench_dashboard.py
	$(BIN)/python benchmarks/bench_cohorts.py
	$(BIN)/python benchmarks/bench_screening.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
