# Two commands on a fresh Debian machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DURATION ?=
DEMO_ARGS = $(if $(DURATION),--duration $(DURATION),)
# Every installed version, with hashes: runtime + the dev extra, for CPython 3.11 on Linux. `make lock` rewrites it.
LOCK    = requirements.lock
# uv bootstraps at the version the lock pins (it then checks its own hash like every other package).
UV_VERSION = $(or $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' $(LOCK) 2>/dev/null),0.13.9)

.PHONY: install lock demo test lint typecheck unit integration schemas clean tools rules

install: $(VENV)/.installed

# Exactly the locked versions (extras removed), then serambi itself, editable, with no dependency resolution.
# One progress line: each step's output (pip notices, setuptools' editable-install warning) goes to
# $(INSTALL_LOG), which is printed only when a step fails.
INSTALL_LOG = $(VENV)/install.log
QUIETLY = >>$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); echo "make install failed (log: $(INSTALL_LOG))"; exit 1; }
$(VENV)/.installed: pyproject.toml $(LOCK)
	@echo "installing Serambi into $(VENV): exactly what $(LOCK) pins (~15 s; ~1 GB downloaded the first time)..."
	@$(PYTHON) -m venv $(VENV)
	@: > $(INSTALL_LOG)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) $(QUIETLY)
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes $(LOCK) $(QUIETLY)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . $(QUIETLY)
	@$(BIN)/python -c "$$CHECK_LOCK"
	@touch $@
	@echo "installed: $$($(BIN)/serambi --version) in $(VENV)"

# Re-resolve after editing dependencies in pyproject.toml; keeps every pin that still fits (upgrade one package:
# `make lock LOCK_ARGS='--upgrade-package NAME'`, all: `LOCK_ARGS=--upgrade`).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform linux \
		--generate-hashes --custom-compile-command 'make lock' $(LOCK_ARGS) -o $(LOCK)

# Fails `make install` when pyproject.toml asks for something the lock does not pin (edited without `make lock`).
define CHECK_LOCK
import importlib.metadata as md, sys, tomllib
from packaging.requirements import Requirement
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
    req = Requirement(line)
    try:
        found = md.version(req.name)
    except md.PackageNotFoundError:
        found = None
    if found is None or not req.specifier.contains(found, prereleases=True):
        sys.exit(f"$(LOCK) does not satisfy {line!r} from pyproject.toml (found {found}): run `make lock`")
endef
export CHECK_LOCK

demo: install
	$(BIN)/serambi demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/serambi schemas check
	$(BIN)/serambi dashboards check

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q -n 2 --dist loadfile

# The real tools the tests drive: promtool and amtool (Debian prometheus 2.42, prometheus-alertmanager 0.25),
# and Debian's Chromium for the web board's browser tests (Playwright drives it; it downloads no browser).
# Installed once, quietly; as root directly, else through sudo.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
tools:
	@command -v promtool >/dev/null && command -v amtool >/dev/null && test -x /usr/bin/chromium \
	  && command -v docker-compose >/dev/null || { \
	  echo "installing promtool, amtool, chromium and docker-compose (Debian prometheus, prometheus-alertmanager, chromium, docker-compose)..."; \
	  $(SUDO) apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends prometheus prometheus-alertmanager chromium docker-compose >/dev/null; }

rules: tools
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

# Two processes (pytest-xdist), one test file at a time each: the tests share no port, data dir or database.
test: install tools lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile

schemas: install
	$(BIN)/serambi schemas generate

clean:
	rm -rf $(VENV) serambi-data .pytest_cache .mypy_cache .ruff_cache
