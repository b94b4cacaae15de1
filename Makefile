# Two commands on a fresh machine (only python3 needed):
#   make report   creates .venv, installs the project, generates the demo company and
#                 renders this month's report pack into reports/<period>/
#   make test     the test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PERIOD ?=
CONFIG ?= config/demo.toml

.PHONY: setup report test lint strip clean-cache

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

report: setup
	$(BIN)/analysis report --config $(CONFIG) $(if $(PERIOD),--period $(PERIOD),)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

strip: setup
	$(BIN)/nbstripout notebooks/*.ipynb

clean-cache:
	rm -rf data/cache
