# The README's two commands: `make run` and `make test`. Every step is idempotent: stamps skip work done.
SHELL := /bin/bash
PORT ?= 3000
PY_VERSION ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN := $(TOOLS)/node_modules/.bin/bun
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# Reflex would download bun from the internet; we install it from the npm registry instead (DESIGN §6).
export REFLEX_USE_SYSTEM_BUN := 1
export PYTHONUNBUFFERED := 1
# The server (Granian) keeps each websocket's buffers (~160 KiB) in its own jemalloc, which holds freed pages
# until a purge. Its purging thread does not run in the forked worker, so a decay period is never honoured:
# purge at once, and a closed tab's buffers go back to the system (read at the process's start, so it must
# be in the environment; BENCHMARKS.md "Memory").
export _RJEM_MALLOC_CONF ?= dirty_decay_ms:0,muzzy_decay_ms:0

.PHONY: run test setup install lint bench browser services migrate clean

# What running needs: the app's own dependencies and bun.
install: $(VENV)/.installed-run $(BUN)
# A developer's set-up: that plus the test extras (pytest, Playwright, ruff, import-linter).
setup: $(VENV)/.installed-test $(BUN)

$(PY):
	@command -v $(PY_VERSION) >/dev/null || { echo "need $(PY_VERSION)"; exit 1; }
	$(PY_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed-run

$(BUN):
	mkdir -p $(TOOLS)
	npm install --no-audit --no-fund --prefix $(TOOLS) bun@1.4.4
	$(BUN) --version

# apt-get install of Debian packages (sudo unless root).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

# Debian's Chromium: Playwright's own browser download cannot work on these machines.
browser:
	@command -v chromium >/dev/null || { echo "installing Debian chromium"; $(APT_INSTALL) chromium >/dev/null; }
	@chromium --version

# PostgreSQL and Redis binaries for the servers the tests start themselves (tests/support/services.py),
# unless TEST_DATABASE_URL / TEST_REDIS_URL name existing ones.
services:
	@[ -n "$$TEST_DATABASE_URL" ] || command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb \
	  >/dev/null 2>&1 || { echo "installing Debian postgresql"; $(APT_INSTALL) postgresql >/dev/null; }
	@[ -n "$$TEST_REDIS_URL" ] || command -v redis-server >/dev/null || \
	  { echo "installing Debian redis-server"; $(APT_INSTALL) redis-server >/dev/null; }

migrate: install
	$(PY) -m cardsort_app.store.migrate

run: install migrate
	reflex run --env prod --single-port --frontend-port $(PORT)

# ruff, and the import contracts of the layers (pyproject.toml [tool.importlinter]).
lint: setup
	ruff check .
	lint-imports

test: lint browser services
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup services
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(TOOLS) .web .web-* .states
