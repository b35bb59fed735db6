"""Configs for `harness data build` and `harness train`, and the training presets (as data).

Precedence, as everywhere: dataclass defaults < preset < `--config file.yaml` < flags passed.
LoRA defaults are the seed's (r 16, alpha 32, dropout 0.05 on q/k/v/o, lr 2e-4, effective
batch 8, cosine schedule with warmup).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import DEFAULT_BASE_MODEL, SHIPPED_SETS, RetrievalConfig
from harness.errors import HarnessError

DATASET_KINDS = ("qa", "rag")
QUANT_MODES = ("none", "4bit", "8bit")

# The sets `harness data build` reads by default, each with the index its clauses come from
# and the corpus that index is built from when it is missing.
DEFAULT_SOURCES = tuple((f"{folder}/questions.jsonl", index, corpus) for folder, (index, corpus) in SHIPPED_SETS.items())


@dataclass(frozen=True)
class DataConfig:
    """`harness data build`: questions of a split -> training examples (TRL prompt-completion)."""

    dataset: str = field(default="rag", metadata={"help": "qa (v1 style: question -> gold answer, no clauses) or rag (v2 style: instruction + retrieved clauses + question -> grounded answer or the refusal sentence)."})
    out: str = field(default="", metadata={"help": "Output JSONL (default: training/data/<dataset>.jsonl)."})
    eval_sets: tuple[str, ...] = field(default=tuple(s for s, _, _ in DEFAULT_SOURCES), metadata={"help": "Question sets to read (eval-set schema); English and Korean together by default."})
    indexes: tuple[str, ...] = field(default=tuple(i for _, i, _ in DEFAULT_SOURCES), metadata={"help": "Index folder for each --eval-set, in the same order (rag only); one index serves all sets when only one is given."})
    extra: tuple[str, ...] = field(default=(), metadata={"help": "Generated Q/A pairs (`harness data generate` + `harness data validate` output) mixed in as extra examples, counted apart (kind 'generated'); pairs whose question is a dev/test question are dropped."})
    split: str = field(default="train", metadata={"help": "Split the examples are built from. dev and test are refused unless --allow-eval-splits."})
    allow_eval_splits: bool = field(default=False, metadata={"help": "Allow building from dev/test questions (recorded in the manifest; results on those splits are then not held out)."})
    k: int = field(default=5, metadata={"help": "Clauses per prompt, as `harness eval --k` (rag)."})
    variants: int = field(default=1, metadata={"help": "Context variants per answerable question (rag): the first has the top-k clauses, each further one draws other distractors, order and a k between --min-k and --k."})
    min_k: int = field(default=3, metadata={"help": "Fewest clauses a variant has (variants draw k between min-k and k)."})
    negatives: float = field(default=0.5, metadata={"help": "Share of answerable questions that also get an evidence-removed negative (every chunk overlapping the evidence taken out; target = refusal sentence). 0 turns it off."})
    unanswerable: bool = field(default=True, metadata={"help": "Include the set's unanswerable questions (rag: target = refusal sentence; qa: skipped either way, as in the seed)."})
    cite: bool = field(default=True, metadata={"help": "Grounded targets name the clause they come from (\"Under VII.G: ...\", \"제3조에 따르면 ...\")."})
    seed: int = field(default=0, metadata={"help": "Seed for distractor draws, positions and which questions get negatives."})
    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata={"help": "Model whose tokenizer measures the examples' token lengths in the stats."})
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig, metadata={"help": "Retrieval parameters (the same as `harness eval`)."})

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_KINDS:
            raise HarnessError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASET_KINDS)} (or a JSONL file for `harness train`)")
        if self.split not in ("train", "dev", "test"):
            raise HarnessError(f"split must be train, dev or test, got {self.split!r}")
        if not self.eval_sets:
            raise HarnessError("no --eval-set given")
        if self.dataset == "rag" and len(self.indexes) not in (1, len(self.eval_sets)):
            raise HarnessError(f"give one --index, or one per --eval-set ({len(self.eval_sets)}), got {len(self.indexes)}")
        if self.k < 1 or not 1 <= self.min_k <= self.k:
            raise HarnessError(f"need 1 <= min_k <= k, got min_k={self.min_k}, k={self.k}")
        if self.variants < 1:
            raise HarnessError(f"variants must be >= 1, got {self.variants}")
        if not 0 <= self.negatives <= 1:
            raise HarnessError(f"negatives must be between 0 and 1, got {self.negatives}")

    @property
    def out_path(self) -> str:
        return self.out or f"training/data/{self.dataset}.jsonl"


@dataclass(frozen=True)
class GenerateConfig:
    """`harness data generate`: self-instruct Q/A pairs per policy chunk from a generator."""

    chunks: str = field(default="", metadata={"help": "Chunk JSONL to generate from (ours, or the seed's chunked_data.jsonl)."})
    index: str = field(default="", metadata={"help": "Or an index folder: its chunks.jsonl."})
    generator: str = field(default="hf:" + DEFAULT_BASE_MODEL, metadata={"help": "BACKEND:MODEL: hf:smollm2-135m (in process; a local folder or hub id also works) or openai:NAME (any OpenAI-compatible server at --api-base: vLLM, llama.cpp, a hosted API)."})
    out: str = field(default="training/generated", metadata={"help": "Output folder: shards/ (one line per processed chunk), progress.json, generated.jsonl, rejects.jsonl."})
    workers: int = field(default=1, metadata={"help": "Workers, each taking ceil(chunks / workers) consecutive chunks; one request in flight per worker."})
    limit: int = field(default=0, metadata={"help": "Only the first N chunks (0: all)."})
    max_new_tokens: int = field(default=512, metadata={"help": "Longest reply per chunk, in tokens."})
    temperature: float = field(default=0.0, metadata={"help": "Sampling temperature (0: greedy)."})
    cache: bool = field(default=True, metadata={"help": "Keep every reply in the generation cache `harness eval` uses (by generator identity, prompt and decoding), so a rerun into a new --out asks nothing twice."})
    cache_dir: str = field(default="results/.cache", metadata={"help": "Cache folder (the same as `harness eval`'s default)."})
    api_base: str = field(default="", metadata={"help": "openai generator: the server's base URL (http://HOST:PORT/v1)."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "openai generator: the environment variable holding the API key (never written anywhere)."})
    request_timeout: float = field(default=120.0, metadata={"help": "openai generator: seconds to wait for one reply before retrying."})
    max_retries: int = field(default=4, metadata={"help": "Retries of a request on 429, 5xx and timeouts (5 tries in all by default)."})
    retry_backoff: float = field(default=1.0, metadata={"help": "First retry waits up to this many seconds; each further one twice as long (full jitter)."})
    retry_max_wait: float = field(default=30.0, metadata={"help": "Longest wait between two tries, in seconds."})

    def __post_init__(self) -> None:
        backend, _, model = self.generator.partition(":")
        if backend not in ("hf", "openai") or not model:
            raise HarnessError(f"--generator takes hf:MODEL or openai:MODEL, got {self.generator!r}")
        if self.workers < 1 or self.limit < 0 or self.max_new_tokens < 1 or self.max_retries < 0 \
                or self.retry_backoff < 0 or self.retry_max_wait < 0 or self.request_timeout <= 0:
            raise HarnessError("workers and max_new_tokens must be >= 1; limit, retries and waits >= 0")


@dataclass(frozen=True)
class LoraConfig:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    target_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={"help": "Modules that get adapters: names, or all-linear (seed 003)."})

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1 or not 0 <= self.dropout < 1 or not self.target_modules:
            raise HarnessError("LoRA needs r >= 1, alpha >= 1, 0 <= dropout < 1 and some target modules")


@dataclass(frozen=True)
class TrainConfig:
    """`harness train`: a LoRA / QLoRA adapter through TRL's SFTTrainer, registered by name."""

    dataset: str = field(default="rag", metadata={"help": "A training JSONL (from `harness data build`), or qa / rag to build one with the defaults first."})
    name: str = field(default="", metadata={"help": "Name the adapter is registered under in models.json (e.g. v2)."})
    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata={"help": "'smollm2-135m' (bundled), a local model folder, or a hub id (e.g. beomi/Llama-3-Open-Ko-8B)."})
    preset: str = field(default="fast", metadata={"help": "fast, balanced, quality or memory_efficient (`--list-presets` prints them); other flags override it."})
    quant: str = field(default="none", metadata={"help": "none (bf16/fp32 LoRA), 4bit (QLoRA: NF4 + double quantization, CUDA) or 8bit (CUDA)."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training examples (ignored when max_steps > 0)."})
    max_steps: int = field(default=0, metadata={"help": "Optimizer steps to run (0: use epochs)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of steps spent warming the learning rate up (cosine decay after)."})
    batch_size: int = field(default=1, metadata={"help": "Examples per forward pass. 1 wastes no compute on padding (the fastest on CPU)."})
    grad_accum: int = field(default=8, metadata={"help": "Forward passes per optimizer step (effective batch = batch_size x grad_accum)."})
    max_length: int = field(default=2048, metadata={"help": "Longest example in tokens; longer ones are dropped and counted, never truncated (that would cut the answer)."})
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of examples held out for eval loss (by question, so variants of one question stay together). 0 turns eval off."})
    eval_steps: int = field(default=10, metadata={"help": "Optimizer steps between eval-loss measurements."})
    early_stopping: int = field(default=3, metadata={"help": "Stop after this many evaluations without a better eval loss (0: never)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward pass: less memory, about a third slower."})
    neftune_alpha: float = field(default=0.0, metadata={"help": "NEFTune noise on the input embeddings (seed 001 used 5); 0 turns it off."})
    dtype: str = field(default="auto", metadata={"help": "Base weights dtype: auto (bf16 on CPU and recent GPUs, else fp16), float32, bfloat16, float16."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps."})
    seed: int = field(default=0, metadata={"help": "Seed for data order, LoRA initialisation and the eval hold-out."})
    logging_steps: int = field(default=1, metadata={"help": "Optimizer steps between lines of the loss log."})
    adapters_dir: str = field(default="adapters", metadata={"help": "Adapters are written to ADAPTERS_DIR/<name>/."})
    track: str = field(default="", metadata={"help": "Log the loss curves to an experiment tracker through TRL's report_to: 'mlflow' (MLFLOW_TRACKING_URI, else ./mlruns; needs pip install 'rag-harness[mlflow]')."})
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA parameters."})

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise HarnessError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.quant not in QUANT_MODES:
            raise HarnessError(f"quant must be one of {', '.join(QUANT_MODES)}, got {self.quant!r}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise HarnessError("give --epochs > 0 or --max-steps > 0")
        if self.max_steps < 0 or self.batch_size < 1 or self.grad_accum < 1 or self.max_length < 16:
            raise HarnessError("max_steps >= 0, batch_size >= 1, grad_accum >= 1 and max_length >= 16 are required")
        if not 0 <= self.eval_fraction < 0.5:
            raise HarnessError(f"eval_fraction must be in [0, 0.5), got {self.eval_fraction}")
        if self.learning_rate <= 0 or not 0 <= self.warmup_ratio < 1:
            raise HarnessError("learning_rate must be > 0 and warmup_ratio in [0, 1)")
        if self.eval_steps < 1 or self.logging_steps < 1 or self.early_stopping < 0 or self.neftune_alpha < 0:
            raise HarnessError("eval_steps and logging_steps must be >= 1; early_stopping and neftune_alpha >= 0")


# Seed 001's presets, as data. Each is a set of TrainConfig overrides (dotted keys for LoRA);
# the CPU figures in docs/TRAINING.md are for the bundled model.
PRESETS: dict[str, dict] = {
    "fast": {
        "about": "Quick adapter: rank 16 on attention, 1 epoch, no checkpointing. The shipped v1/v2 use it.",
        "overrides": {"epochs": 1.0, "learning_rate": 2e-4, "grad_accum": 8, "gradient_checkpointing": False,
                      "lora.r": 16, "lora.alpha": 32},
    },
    "balanced": {
        "about": "Two epochs, rank 16 on attention, eval every 10 steps with early stopping.",
        "overrides": {"epochs": 2.0, "learning_rate": 2e-4, "grad_accum": 8, "gradient_checkpointing": False,
                      "lora.r": 16, "lora.alpha": 32},
    },
    "quality": {
        "about": "Three epochs, rank 32 on all linear layers (seed 003), NEFTune 5, lower learning rate.",
        "overrides": {"epochs": 3.0, "learning_rate": 1e-4, "grad_accum": 8, "gradient_checkpointing": False,
                      "neftune_alpha": 5.0, "lora.r": 32, "lora.alpha": 64, "lora.target_modules": ["all-linear"]},
    },
    "memory_efficient": {
        "about": "For big models on small GPUs: 4-bit QLoRA, gradient checkpointing, batch 1 x 8.",
        "overrides": {"epochs": 1.0, "learning_rate": 2e-4, "batch_size": 1, "grad_accum": 8, "quant": "4bit",
                      "gradient_checkpointing": True, "lora.r": 16, "lora.alpha": 32},
    },
}
