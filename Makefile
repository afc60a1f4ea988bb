# Two commands for a newcomer: `make lab` and `make test`. Both create .venv when needed and
# install the pinned set (constraints.txt) before doing anything else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
LINTED := ohlcv_workbench tests benchmarks $(NOTEBOOKS)

.PHONY: install lab test lint bench bench-quick lock services-down clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## lab: start the embedded services and JupyterLab on notebooks/ (prints the URL and token)
lab: $(STAMP)
	$(BIN)/ohlcv-workbench lab

## lint: ruff, mypy and the check that notebooks are committed without outputs
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(if $(NOTEBOOKS),$(BIN)/nbstripout --verify $(NOTEBOOKS))

## test: lint, then unit + integration tests and every notebook (nbmake)
test: lint
	$(BIN)/pytest --nbmake tests $(if $(NOTEBOOKS),notebooks)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

## lock: re-resolve the dependencies and rewrite constraints.txt
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^ohlcv.workbench' > constraints.txt
	rm -rf .lockenv

services-down: $(STAMP)
	$(BIN)/ohlcv-workbench services down

clean: services-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
