# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Every install step lives here: apt-get (qemu-utils), pip (venv), npm (pinned Azurite).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
QEMU_IMG := $(shell command -v qemu-img 2>/dev/null)

.PHONY: setup demo up test pytest bench lint format clean

# What `make test` runs; CI's exit code is pytest's, so "no tests collected" (5) fails it too.
TESTS ?= tests

setup: $(STAMP) $(NODE_STAMP) qemu

$(STAMP): requirements.txt requirements-agent.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

qemu:
ifeq ($(QEMU_IMG),)
	@echo "Installing qemu-utils (qemu-img, qemu-io) from Debian's packages"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null
endif

demo: setup
	$(PY) -m demo

local.settings.json: | $(STAMP)
	$(PY) -m devhost.init_settings

up: setup local.settings.json
	$(PY) -m devhost --with-azurite --with-servicebus

test: setup lint pytest

pytest: setup
	$(PY) -m pytest $(TESTS)

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .devhost .azurite .demo .pytest_cache .ruff_cache
