# labelbot — `make demo` and `make test` work on a fresh clone in one command.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean

install: $(STAMP)

# torch first, pinned, the CPU build: PyPI's torch for Linux is the multi-GB CUDA build. Where
# pip's own index or find-links already offers the CPU wheel (these machines: /opt/wheels),
# nothing more is needed; elsewhere `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu`.
TORCH_INDEX ?=
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make demo DEMO_ARGS="--budget 200"`: any `labelbot demo` option (--budget, --batch, --seed, --out-dir)
DEMO_ARGS ?=
demo: install
	HF_HUB_OFFLINE=1 $(BIN)/labelbot demo $(DEMO_ARGS)

# The suite runs in parallel worker processes (pytest-xdist), two per core up to 4 and at most one
# per 3 GB of free memory: most tests wait on SQLite, PostgreSQL, loopback HTTP or a child process,
# so one worker keeps about half a core busy; on 2 cores 4 workers took 87 s where 2 took 135 s and
# 6 took 90 (README, Development). Each test has its own database either way. `make test
# WORKERS=0` runs it in one process; a single file is quickest as `.venv/bin/pytest tests/...`.
WORKERS ?= $(shell $(PYTHON) -c "import os, re; m = re.search(r'MemAvailable: +([0-9]+)', open('/proc/meminfo').read()) if os.path.exists('/proc/meminfo') else None; gb = int(m.group(1)) / 2**20 if m else 12; print(max(1, min(4, 2 * (os.cpu_count() or 1), int(gb // 3))))" 2>/dev/null || echo 2)
PYTEST  := HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(WORKERS) --maxprocesses 4 --durations 15

test: install
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy engine storage bot

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/engine_speed.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/label_efficiency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
