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
export NPM_CONFIG_REGISTRY ?= https://registry.npmjs.org
export PYTHONUNBUFFERED := 1

.PHONY: run test setup lint bench browser migrate clean

setup: $(VENV)/.installed $(BUN)

$(VENV)/.installed: pyproject.toml
	@command -v $(PY_VERSION) >/dev/null || { echo "need $(PY_VERSION)"; exit 1; }
	test -x $(PY) || $(PY_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(BUN):
	mkdir -p $(TOOLS)
	npm install --no-audit --no-fund --prefix $(TOOLS) bun@1.4.4
	$(BUN) --version

# Debian's Chromium: Playwright's own browser download cannot work on these machines.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

migrate: setup
	$(PY) -m cardsort_app.store.migrate

run: setup migrate
	reflex run --env prod --single-port --frontend-port $(PORT)

test: setup browser
	ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(TOOLS) .web .states
