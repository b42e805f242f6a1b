# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Every install step lives here: apt-get (qemu-utils and the mkfs/setpriv the disk tests use),
# pip (venv), npm (pinned Azurite), chromium for the console's browser tests.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Debian tools the tests need: qemu-img/qemu-io make disks we did not write, mkfs.ext4 puts a
# real filesystem on one, setpriv drops root to test a permission refusal, chromium is the
# browser the console tests drive with Playwright (never `playwright install`).
APT_TOOLS := qemu-img:qemu-utils qemu-io:qemu-utils mkfs.ext4:e2fsprogs setpriv:util-linux chromium:chromium
APT_MISSING := $(sort $(foreach t,$(APT_TOOLS),$(if $(shell command -v $(word 1,$(subst :, ,$(t))) 2>/dev/null),,$(word 2,$(subst :, ,$(t))))))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup apt demo drill up test pytest bench soak lint format clean

# What `make test` runs; CI's exit code is pytest's, so "no tests collected" (5) fails it too.
# The end-to-end tests run apart, after the others: each of their workers keeps a control
# plane (devhost, broker, Azurite) running through the session, which another module's test
# in the same process would share (its storage meter would count that devhost's calls).
# E2E_TESTS= (empty) leaves them out.
TESTS ?= tests
E2E_TESTS ?= tests/e2e
# The tests mostly wait (cycles, timers, a browser): two workers, each with its own Azurite,
# broker and devhost, halve the wall time on 2 cores. A module stays on one worker
# (--dist loadfile), so its tests keep their order. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
XDIST = -n $(PYTEST_WORKERS) --dist loadfile

setup: $(STAMP) $(NODE_STAMP) apt

$(STAMP): requirements.txt requirements-agent.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

apt:
ifneq ($(APT_MISSING),)
	@echo "Installing $(APT_MISSING) from Debian's packages"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_MISSING) >/dev/null
endif

demo: setup
	$(PY) -m demo

# A DR drill of a two-VM recovery plan on the embedded default (docs/recovery-plans.md).
drill: setup
	$(PY) -m demo.drill

local.settings.json: | $(STAMP)
	$(PY) -m devhost.init_settings

up: setup local.settings.json
	$(PY) -m devhost --with-azurite --with-servicebus --with-arm

test: setup lint pytest

pytest: setup
	$(PY) -m pytest $(XDIST) $(addprefix --ignore=,$(E2E_TESTS)) $(TESTS)
	$(if $(E2E_TESTS),$(PY) -m pytest $(XDIST) $(E2E_TESTS))

bench: setup
	$(PY) -m bench

# The fault-injection soak (not part of `make test`): about 10 minutes of kill -9 of devhost,
# the broker, the agent and Azurite, then its checks as JSON. SOAK_ARGS="--minutes 3" shortens it.
soak: setup
	$(PY) -m soak $(SOAK_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .devhost .azurite .demo .pytest_cache .ruff_cache .hypothesis
