# make demo — set up and run the main job; make test — set up and run the whole suite.
# Each starts from a bare machine with Python 3.11: a virtualenv in .venv, the package with its dev extra,
# and Graphviz's dot (through apt-get when we are root, otherwise a one-line hint).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# a wheel directory on disk (e.g. PyTorch's CPU build) is used when present
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
TORCH_VERSION ?= 2.13.0

.PHONY: demo test setup dot chromium torch bench lint clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) --upgrade pip
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) -e '.[dev]'
	touch $@

setup: $(VENV)/.installed dot

dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
	      || echo "could not install Graphviz; DOT files are still written (install it: sudo apt-get install graphviz)"; \
	  else \
	    echo "Graphviz's dot is missing: DOT files are still written; for SVGs run: sudo apt-get install graphviz"; \
	  fi; }

# Headless Chromium opens the HTML report in the tests; without it that one test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (headless report test) with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install Chromium; the report's browser test will skip (sudo apt-get install chromium)"; \
	  else \
	    echo "Chromium is missing: the report's browser test will skip; to run it: sudo apt-get install chromium"; \
	  fi; }

# PyTorch is the independent reference of the layer and op tests; they skip cleanly without it.
$(VENV)/.torch: $(VENV)/.installed
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) torch==$(TORCH_VERSION) \
	  || echo "torch==$(TORCH_VERSION) could not be installed: the PyTorch comparison tests will skip"
	touch $@

torch: $(VENV)/.torch

demo: setup
	$(PY) -m tinygrad_rnn demo

test: setup torch chromium
	$(PY) -m pytest -q

bench: setup torch
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) -e '.[bench]'
	$(PY) benchmarks/ops.py --out benchmarks/RESULTS.md

lint: setup
	$(PY) -m ruff check tinygrad_rnn viz tests benchmarks examples

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis *.egg-info
