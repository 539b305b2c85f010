# Two commands on a fresh Debian machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DURATION ?=
DEMO_ARGS = $(if $(DURATION),--duration $(DURATION),)

.PHONY: install demo test lint typecheck unit integration schemas clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/serambi demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/serambi schemas check

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

test: install lint typecheck
	$(BIN)/pytest -q

schemas: install
	$(BIN)/serambi schemas generate

clean:
	rm -rf $(VENV) serambi-data .pytest_cache .mypy_cache .ruff_cache
