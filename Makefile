# Two commands on a fresh machine: `make run` (dashboard) and `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
PORT ?= 8501

.PHONY: run test bench bench-scale venv clean-venv chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The pinned requirement files are the source of truth; then this checkout itself, editable
# and without dependencies (pyproject.toml's ranges only describe the package), which
# gives the `topoact` command.
$(RUN_STAMP): requirements.txt requirements-nodeps.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-ray.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(TEST_STAMP)

# One torch/BLAS thread: this 2-core VM stalls with two (first-use training takes 32 s instead of 6).
# dashboard/serve.py imports torch and builds the default graph before the server starts,
# so the first page load only reads memory. Run as a module from the checkout's root: this
# checkout's code is imported (not another one installed in the same venv).
run: $(RUN_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m dashboard.serve --server.address 127.0.0.1 --server.port $(PORT)

# The dashboard's browser test drives Debian's Chromium with Playwright (no browser download).
chromium:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: $(TEST_STAMP) chromium
	$(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	$(BIN)/python -m bench.mapper_bench

# Local vs Ray engine on this machine (100k points): the Ray engine's overhead.
bench-scale: $(TEST_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.scale_bench

clean-venv:
	rm -rf $(VENV)
