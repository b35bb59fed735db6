"""Config dataclasses and the one place where defaults, a YAML file and CLI flags are merged.

Precedence: dataclass defaults < `--config file.yaml` < flags the user actually passed.
Each field's help text lives once, in `metadata["help"]`; the CLI builds its options from it.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

from harness.encoding import MOJIBAKE_POLICIES, read_text, user_encoding
from harness.errors import HarnessError
from harness.paths import check_name

C = TypeVar("C")

DEFAULT_BASE_MODEL = "smollm2-135m"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
# Korean questions are ranked by a multilingual embedder (chosen on the dev splits: docs/RETRIEVAL.md).
DEFAULT_LANGUAGE_EMBEDDERS: tuple[str, ...] = ("ko=multilingual-e5-small",)
DEFAULT_CORPUS = "eval_sets/corpora/sfip"
DEFAULT_INDEX = "indexes/sfip"
DEFAULT_EVAL_SET = "eval_sets/sfip/starter.jsonl"
# The shipped eval-set folders, each with the index its questions are asked of and the corpus
# that index is built from (on first use, when missing).
SHIPPED_SETS = {"eval_sets/sfip": ("indexes/sfip", "eval_sets/corpora/sfip"),
                "eval_sets/sfip_ko": ("indexes/sfip_ko", "eval_sets/corpora/sfip_ko")}
# Shipped sets for measurement only: the same (index, corpus) pairs, but kept out of SHIPPED_SETS
# because its sets are also what `harness data build` reads by default (training/config.py), and
# the injection cases must not become training examples unasked.
EVAL_ONLY_SETS = {"eval_sets/injection": ("indexes/injection", "eval_sets/corpora/injection")}
# `harness eval --suite NAME`: a shipped eval set and the index its questions are asked of.
SUITES = {"sfip": (DEFAULT_EVAL_SET, "indexes/sfip"),
          "sfip_ko": ("eval_sets/sfip_ko/questions.jsonl", "indexes/sfip_ko"),
          "injection": ("eval_sets/injection/questions.jsonl", "indexes/injection")}
DEFAULT_RESULTS = "results"


@dataclass(frozen=True)
class DecodingConfig:
    """How answers are decoded. The defaults are greedy: the same input gives the same answer.
    Named presets (greedy, seed-default, seed-optimized) live in harness/experiment/presets.yaml."""

    max_new_tokens: int = field(default=256, metadata={"help": "Hard cap on generated tokens per answer."})
    do_sample: bool = field(default=False, metadata={"help": "Sample (with temperature, top_p, top_k and a seed) instead of greedy decoding."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (> 0 when sampling). Setting it without do_sample: > 0 turns sampling on, 0 means greedy."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (sampling only; 1.0 disables it)."})
    top_k: int = field(default=0, metadata={"help": "Sample among the k likeliest tokens (sampling only; 0 disables it)."})
    repetition_penalty: float = field(default=1.0, metadata={"help": "Penalty on tokens already in the prompt or answer; 1.0 disables it."})
    no_repeat_ngram_size: int = field(default=0, metadata={"help": "Never repeat an n-gram of this many tokens; 0 disables it."})
    seed: int = field(default=0, metadata={"help": "Base seed for sampled decoding; each question and repeat derives its own from it."})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise HarnessError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise HarnessError(f"temperature must be >= 0, got {self.temperature}")
        if self.do_sample and self.temperature == 0:
            raise HarnessError("sampling needs temperature > 0 (temperature 0 means greedy: set do_sample false)")
        if not 0 < self.top_p <= 1:
            raise HarnessError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.no_repeat_ngram_size < 0:
            raise HarnessError("top_k and no_repeat_ngram_size must be >= 0")
        if self.repetition_penalty <= 0:
            raise HarnessError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @property
    def greedy(self) -> bool:
        return not self.do_sample

    def effective(self) -> dict[str, Any]:
        """The settings that change an answer: greedy decoding ignores the sampling knobs, so
        two greedy configs that differ only there are the same config (one cache entry)."""
        data = dataclasses.asdict(self)
        if self.greedy:
            for key in ("temperature", "top_p", "top_k", "seed"):
                data.pop(key)
        return data


@dataclass(frozen=True)
class DecodingOverrides:
    """Decoding fields set on top of every preset (from `decoding_overrides:` or the flags);
    None means "keep the preset's value"."""

    max_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    seed: int | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def apply_decoding(base: DecodingConfig, overrides: Mapping[str, Any]) -> DecodingConfig:
    """`base` with `overrides` set. A temperature given without do_sample decides it, as in the
    OpenAI API: > 0 samples, 0 is greedy."""
    known = {f.name for f in dataclasses.fields(DecodingConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise HarnessError(f"unknown decoding setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    hints = get_type_hints(DecodingConfig)
    for key, value in overrides.items():  # a YAML grid or --grid gives any scalar; values stay as given
        _coerce(hints[key], value, key, None, {})
    values = dict(overrides)
    if "temperature" in values and "do_sample" not in values:
        values["do_sample"] = float(values["temperature"]) > 0
    if values.get("do_sample") is False and values.get("temperature") == 0:
        values["temperature"] = base.temperature if base.temperature > 0 else 1.0
    return dataclasses.replace(base, **values)


@dataclass(frozen=True)
class StopConfig:
    """Where an answer ends: stop phrases and structural trims, applied after generation
    (the raw answer is kept), and optionally as stop strings while generating."""

    default_phrases: bool = field(default=True, metadata={"help": "Cut at the language's default stop phrases (harness.trimming.DEFAULT_STOP_PHRASES)."})
    phrases: tuple[str, ...] = field(default=(), metadata={"help": "More phrases to cut at, for every language."})
    script_switch: bool = field(default=True, metadata={"help": "Cut where the answer switches script or language mid-answer."})
    repetition: bool = field(default=True, metadata={"help": "Cut a repeated sentence or an n-gram loop (one copy is kept)."})
    new_turn: bool = field(default=True, metadata={"help": "Cut where the model starts a new turn by itself (\"Question:\", \"###\", ...)."})
    at_generation: bool = field(default=False, metadata={"help": "Also stop generating at the phrases (faster; the raw answer then ends at the phrase, so before/after-trim figures no longer differ for phrases)."})


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut into chunks. Sizes are in tokens of the embedder's own tokenizer."""

    max_tokens: int = field(default=256, metadata={"help": "Largest chunk, in embedder tokens (chosen on the dev split; all-MiniLM-L6-v2 reads 256)."})
    min_tokens: int = field(default=48, metadata={"help": "Clauses under one heading are merged until a chunk has at least this many tokens."})
    overlap_tokens: int = field(default=32, metadata={"help": "When a clause longer than max_tokens is split, each piece repeats about this many tokens of the previous one."})
    context_header: bool = field(default=True, metadata={"help": "Embed and BM25-index each chunk with its breadcrumbs (form > article > clause) in front, so near-identical forms can be told apart."})

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise HarnessError(f"max_tokens must be >= 16, got {self.max_tokens}")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise HarnessError(f"min_tokens must be between 0 and max_tokens ({self.max_tokens}), got {self.min_tokens} (set --min-tokens too)")
        if not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise HarnessError(f"overlap_tokens must be between 0 and max_tokens / 2 ({self.max_tokens // 2}), got {self.overlap_tokens} (set --overlap-tokens too)")


@dataclass(frozen=True)
class IndexConfig:
    """`harness index`: documents -> chunks -> embeddings -> FAISS index on disk."""

    corpus: tuple[str, ...] = field(default=(DEFAULT_CORPUS,), metadata={"help": "Files (.txt, .md, or .jsonl holding chunks made elsewhere), or folders whose --pattern files are read."})
    patterns: tuple[str, ...] = field(default=("*.txt",), metadata={"help": "File patterns read from corpus folders."})
    out: str = field(default=DEFAULT_INDEX, metadata={"help": "Folder the index is written to."})
    embedder: str = field(default=DEFAULT_EMBEDDER, metadata={"help": "Sentence-transformers model: the bundled 'all-minilm-l6-v2' or a local path."})
    language_embedders: tuple[str, ...] = field(default=DEFAULT_LANGUAGE_EMBEDDERS, metadata={"help": "LANG=EMBEDDER pairs: questions in LANG (en, ko) are ranked by this embedder's own vectors of every chunk instead of --embedder's; e.g. ko=multilingual-e5-small. Bundled: all-minilm-l6-v2 (English), multilingual-e5-small, use-multilingual."})
    question_keys: tuple[str, ...] = field(default=(), metadata={"help": "Eval-set JSONL files whose questions (of --question-keys-split only) are indexed as extra keys for the chunks their evidence overlaps (doc2query): a new question is matched against questions already asked about a clause as well as the clause itself. Never give it the split you measure on."})
    question_keys_split: str = field(default="train", metadata={"help": "The one split of --question-keys files that becomes keys."})
    batch_size: int = field(default=32, metadata={"help": "Passages embedded per batch."})
    dense_index: str = field(default="flat", metadata={"help": "FAISS index: flat (exact), hnsw or ivf (approximate, for large corpora)."})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW: links per node."})
    hnsw_ef_construction: int = field(default=200, metadata={"help": "HNSW: candidate list size while building."})
    hnsw_ef_search: int = field(default=128, metadata={"help": "HNSW: candidate list size while searching."})
    ivf_nlist: int = field(default=0, metadata={"help": "IVF: number of clusters (0: about 4 x sqrt(chunks))."})
    ivf_nprobe: int = field(default=16, metadata={"help": "IVF: clusters visited per query."})
    encoding: str = field(default="utf-8", metadata={"help": "How corpus files are decoded: utf-8 (a byte-order mark is skipped), auto (UTF-8, UTF-16 or CP949/EUC-KR, recognised from the bytes) or a codec name (cp949, euc-kr, utf-16, latin-1). Recorded per document in the manifest."})
    mojibake: str = field(default="refuse", metadata={"help": "UTF-8 text that was once decoded as cp1252/latin-1 ('Ã©', 'â€™', 'ì•½ê´€'): refuse (name the files), repair (index ftfy's repaired text; a copy is kept in INDEX/repaired/) or keep (index it as it is)."})
    follow_symlinks: bool = field(default=False, metadata={"help": "Follow links in a corpus folder that lead outside it (refused by default)."})
    chunking: ChunkConfig = field(default_factory=ChunkConfig, metadata={"help": "Chunking parameters."})

    def __post_init__(self) -> None:
        if self.mojibake not in MOJIBAKE_POLICIES:
            raise HarnessError(f"mojibake must be refuse, repair or keep, got {self.mojibake!r}")
        if self.dense_index not in ("flat", "hnsw", "ivf"):
            raise HarnessError(f"dense_index must be flat, hnsw or ivf, got {self.dense_index!r}")
        if self.question_keys_split not in ("train", "dev", "test"):
            raise HarnessError(f"question_keys_split must be train, dev or test, got {self.question_keys_split!r}")
        for pair in self.language_embedders:
            lang, _, name = pair.partition("=")
            if not lang or not name:
                raise HarnessError(f"language_embedders takes LANG=EMBEDDER pairs, not {pair!r}")
        if self.batch_size < 1 or self.hnsw_m < 2 or self.hnsw_ef_construction < 1 or self.hnsw_ef_search < 1 \
                or self.ivf_nlist < 0 or self.ivf_nprobe < 1:
            raise HarnessError("batch_size, hnsw_* and ivf_nprobe must be positive, ivf_nlist >= 0")


def default_index_for(eval_set: str | Path) -> str:
    """The index a set's questions are asked of when --index is not given: a shipped set's own
    (the Korean set -> indexes/sfip_ko), else the default."""
    folder = Path(eval_set).parent
    if folder.is_absolute():
        try:
            folder = folder.relative_to(Path.cwd())
        except ValueError:
            return DEFAULT_INDEX
    return {**SHIPPED_SETS, **EVAL_ONLY_SETS}.get(folder.as_posix(), (DEFAULT_INDEX,))[0]


@dataclass(frozen=True)
class RetrievalConfig:
    """How chunks are found for a question; the same for `harness search` and `harness eval`."""

    mode: str = field(default="hybrid", metadata={"help": "dense (embeddings), bm25 (words), or hybrid (both, reciprocal rank fusion)."})
    rrf_k: int = field(default=60, metadata={"help": "Reciprocal rank fusion constant: score = sum of 1 / (rrf_k + rank)."})
    candidates: int = field(default=50, metadata={"help": "Hits taken from each retriever before fusion and re-ranking."})
    doc_aware: bool = field(default=True, metadata={"help": "When a question names a document (\"Under the Dwelling Form\", \"RCBAP\"), rank that document's chunks first."})
    reranker: str = field(default="", metadata={"help": "Re-ranker for the fused list: '' (none) or cross-encoder:PATH (a local sentence-transformers CrossEncoder)."})
    rerank_depth: int = field(default=20, metadata={"help": "How many fused hits the re-ranker re-orders."})
    bm25_korean: str = field(default="both", metadata={"help": "BM25 terms for Korean text: bigrams (character pairs of each word, matching across particles and endings), morphemes (content morphemes from the kiwipiepy analyser) or both (chosen on the Korean dev split: docs/RETRIEVAL.md)."})
    question_keys: bool = field(default=True, metadata={"help": "Also match questions against the index's question keys (built with `harness index --question-keys`), fused with the other rankings; no effect on an index without keys."})

    def __post_init__(self) -> None:
        if self.mode not in ("dense", "bm25", "hybrid"):
            raise HarnessError(f"mode must be dense, bm25 or hybrid, got {self.mode!r}")
        if self.bm25_korean not in ("bigrams", "morphemes", "both"):
            raise HarnessError(f"bm25_korean must be bigrams, morphemes or both, got {self.bm25_korean!r}")
        if self.rrf_k < 1 or self.candidates < 1 or self.rerank_depth < 1:
            raise HarnessError("rrf_k, candidates and rerank_depth must be >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """`harness eval`: every model answers every question over the same retrieved clauses."""

    models: tuple[str, ...] = field(default=("base",), metadata={"help": "Model names to evaluate: 'base' or names registered in models.json."})
    skip_unregistered: bool = field(default=False, metadata={"help": "Leave out (with a warning) models that are not registered instead of stopping; for shared experiment files."})
    eval_set: str = field(default=DEFAULT_EVAL_SET, metadata={"help": "Eval-set JSONL file (schema in README)."})
    index: str = field(default=DEFAULT_INDEX, metadata={"help": "Index folder written by `harness index`. Left at the default, a shipped set's questions go to that set's own index (eval_sets/sfip_ko -> indexes/sfip_ko, eval_sets/injection -> indexes/injection), built from its corpus on first use."})
    k: int = field(default=5, metadata={"help": "Chunks retrieved per question."})
    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata={"help": "What 'base' means: 'smollm2-135m' (bundled), a local folder or a hub id."})
    backend: str = field(default="hf", metadata={"help": "Generation backend: hf (transformers), openai (any OpenAI-compatible server: vLLM, TGI, llama.cpp, Ollama, a hosted API) or scripted (no model: for tests and dry runs)."})
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto (float32 on CPU, where answers were measured not to change with the batch size; bf16, or fp16 without bf16, on GPUs), float32, bfloat16, float16."})
    prefill_dtype: str = field(default="auto", metadata={"help": "hf backend: the dtype prompts are read in. auto: on a CPU with native bf16 (AVX512-BF16/AMX) and float32 weights, each prompt is read alone in bf16 autocast (~2x faster) and answers are decoded in float32, still batch-invariant; elsewhere 'same'. same: the weights' dtype. Recorded in provenance and the cache key."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps."})
    load_in_4bit: bool = field(default=False, metadata={"help": "Load the model in 4-bit NF4 through bitsandbytes (QLoRA-style)."})
    batch_size: int = field(default=8, metadata={"help": "Questions generated per batch."})
    api_base: str = field(default="", metadata={"help": "openai backend: the server's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (default: OPENAI_BASE_URL; a model's api_base in models.json wins)."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "openai backend: the environment variable holding the API key (read at request time, never stored or logged)."})
    concurrency: int = field(default=4, metadata={"help": "openai backend: requests in flight at once."})
    request_timeout: float = field(default=120.0, metadata={"help": "openai backend: seconds to wait for one answer before retrying."})
    server_params: str = field(default="extended", metadata={"help": "openai backend: 'extended' sends every decoding setting (repetition penalty, top-k: vLLM, TGI, llama.cpp understand them, and their own defaults differ); 'strict' only OpenAI's own fields, for hosted APIs that refuse others."})
    max_retries: int = field(default=4, metadata={"help": "openai backend: retries of a request on 429, 5xx, timeouts and dropped connections (exponential backoff with jitter)."})
    results_dir: str = field(default=DEFAULT_RESULTS, metadata={"help": "Runs land in RESULTS_DIR/<run_id>/."})
    run_name: str = field(default="", metadata={"help": "Suffix of the run folder name (default: the model names)."})
    split: str = field(default="", metadata={"help": "Evaluate only this split of the eval set (train, dev or test); all questions when not given."})
    limit: int = field(default=0, metadata={"help": "Evaluate only the first N questions (0 = all)."})
    score: bool = field(default=True, metadata={"help": "Score every answer for hallucination (claims checked against the retrieved clauses)."})
    score_threshold: float | None = field(default=None, metadata={"help": "Answer support below which an answer is hallucinated (default: the scorer's combiner's, chosen by `harness scorer fit` on the labelled sets' dev parts)."})
    score_judge: str = field(default="", metadata={"help": "Optional judge for the scorer, off by default: nli:PATH_OR_ID, detector:PATH_OR_ID or llm:BACKEND:MODEL (verdicts cached)."})
    track: str = field(default="", metadata={"help": "Log the run to an experiment tracker: 'mlflow' (MLFLOW_TRACKING_URI, else ./mlruns; needs pip install 'rag-harness[mlflow]')."})
    decoding: tuple[str, ...] = field(default=("greedy",), metadata={"help": "Decoding presets, each one a cell of the experiment: greedy, seed-default, seed-optimized (`harness eval --list-presets`), or names defined under `presets:`."})
    decoding_overrides: DecodingOverrides = field(default_factory=DecodingOverrides, metadata={"help": "Decoding settings applied on top of every preset (the --temperature ... flags)."})
    presets: dict[str, DecodingOverrides] = field(default_factory=dict, metadata={"help": "Your own decoding presets: name -> settings on top of greedy defaults."})
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict, metadata={"help": "A sweep: decoding setting -> values; every combination is a cell (on each preset)."})
    repeats: int = field(default=1, metadata={"help": "Sampled decoding only: answer each question this many times (seeds seed, seed+1, ...); metrics report the spread over repeats."})
    stops: StopConfig = field(default_factory=StopConfig, metadata={"help": "Stop phrases and tail trimming."})
    cache: bool = field(default=True, metadata={"help": "Reuse generations and scores from earlier runs with the same model, prompt and decoding (content-addressed)."})
    cache_dir: str = field(default="", metadata={"help": "Where the cache lives (default: RESULTS_DIR/.cache)."})
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig, metadata={"help": "Retrieval parameters."})

    def __post_init__(self) -> None:
        if self.k < 1:
            raise HarnessError(f"k must be >= 1, got {self.k}")
        if self.run_name:
            check_name(self.run_name, "run name")
        if self.server_params not in ("extended", "strict"):
            raise HarnessError(f"server_params must be extended or strict, got {self.server_params!r}")
        if self.concurrency < 1 or self.request_timeout <= 0 or self.max_retries < 0:
            raise HarnessError("concurrency must be >= 1, request_timeout > 0 and max_retries >= 0")
        if self.batch_size < 1:
            raise HarnessError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.limit < 0:
            raise HarnessError(f"limit must be >= 0, got {self.limit}")
        if self.score_threshold is not None and not 0 <= self.score_threshold <= 1:
            raise HarnessError(f"score_threshold must be between 0 and 1, got {self.score_threshold}")
        if self.split not in ("", "train", "dev", "test"):
            raise HarnessError(f"split must be train, dev or test, got {self.split!r}")
        if not self.models:
            raise HarnessError("no models given (use --models base)")
        if not self.decoding:
            raise HarnessError("no decoding presets given (use --decoding greedy)")
        if self.repeats < 1:
            raise HarnessError(f"repeats must be >= 1, got {self.repeats}")
        # Values are checked here, on greedy defaults; build_cells() checks them on each preset.
        for where, overrides in [("decoding_overrides", self.decoding_overrides),
                                 *((f"presets.{n}", p) for n, p in self.presets.items())]:
            try:
                apply_decoding(DecodingConfig(), overrides.given())
            except HarnessError as e:
                raise HarnessError(f"{where}: {e.message}") from None
        for key, values in self.grid.items():
            for value in values:
                try:
                    apply_decoding(DecodingConfig(), {key: value})
                except HarnessError as e:
                    raise HarnessError(f"grid: {e.message}") from None


def to_dict(cfg: Any) -> dict:
    """A config as plain JSON-able data (tuples become lists)."""
    return dataclasses.asdict(cfg, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items})


def yaml_key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line, from yaml.compose() marks, so errors can point at the line."""
    import yaml

    lines: dict[str, int] = {}
    seen: set[int] = set()

    def walk(node: Any, prefix: str) -> None:
        # An alias shares its anchor's node (and may point back at a node it is inside): walk each once.
        if isinstance(node, yaml.MappingNode) and id(node) not in seen:
            seen.add(id(node))
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key + ".")

    walk(yaml.compose(text), "")
    return lines


def build_config(cls: type[C], data: Mapping[str, Any], *, path: Path | None = None,
                 lines: Mapping[str, int] | None = None, prefix: str = "") -> C:
    """Build `cls` from nested plain data; unknown keys and wrong types are errors at file:line."""
    lines = lines or {}
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"  # YAML keys may be numbers, booleans, null, dates...
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise HarnessError(f"unknown key {dotted!r} (known: {known})", path, lines.get(dotted))
        kwargs[key] = _coerce(hints[key], value, dotted, path, lines)
    try:
        return cls(**kwargs)
    except HarnessError as e:
        if path is not None and e.path is None:
            raise HarnessError(e.message, path) from None
        raise


def _coerce(tp: Any, value: Any, dotted: str, path: Path | None, lines: Mapping[str, int]) -> Any:
    line = lines.get(dotted)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise HarnessError(f"{dotted!r} must be a mapping", path, line)
        return build_config(tp, value, path=path, lines=lines, prefix=dotted + ".")
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):  # X | None: None stays None, anything else must be an X
        if value is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _coerce(inner, value, dotted, path, lines)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise HarnessError(f"{dotted!r} must be a mapping", path, line)
        _, value_tp = get_args(tp)
        return {str(k): _coerce(value_tp, v, f"{dotted}.{k}", path, lines) for k, v in value.items()}
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise HarnessError(f"{dotted!r} must be a list", path, line)
        (item_tp, *_) = get_args(tp)
        return tuple(_coerce(item_tp, v, dotted, path, lines) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise HarnessError(f"{dotted!r} must be true or false, got {value!r}", path, line)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise HarnessError(f"{dotted!r} must be an integer, got {value!r}", path, line)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HarnessError(f"{dotted!r} must be a number, got {value!r}", path, line)
        try:
            return float(value)
        except OverflowError:
            raise HarnessError(f"{dotted!r} is too large a number", path, line) from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise HarnessError(f"{dotted!r} must be a string, got {value!r}", path, line)
        return str(value)
    return value


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: Path) -> Any:
    """A user's YAML file, safely loaded; whatever PyYAML cannot read is a HarnessError at file:line."""
    return parse_yaml(read_text(path, user_encoding())[0], path)


def parse_yaml(text: str, path: Path) -> Any:
    """YAML text read from `path`, safely loaded; see read_yaml."""
    import yaml

    def one_line(s: object) -> str:
        return " ".join(str(s).split())

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise HarnessError(f"invalid YAML: {one_line(e.problem or e.context)}", path, mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as e:
        what = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise HarnessError(f"invalid YAML: unacceptable character {what} ({one_line(e.reason)})", path,
                           text.count("\n", 0, e.position) + 1) from None
    except yaml.YAMLError as e:
        raise HarnessError(f"invalid YAML: {one_line(e)}", path) from None
    except RecursionError:
        raise HarnessError("invalid YAML: nested too deeply", path) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        # PyYAML lets some bad values through as Python errors: `!!int x`, `!!bool x`, an
        # integer of more than 4300 digits.
        raise HarnessError(f"invalid YAML: a value cannot be read ({type(e).__name__}: {one_line(e)})", path) from None


def load_config(cls: type[C], yaml_path: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                defaults: Mapping[str, Any] | None = None) -> C:
    """Dataclass defaults < `defaults` (e.g. a preset) < YAML file < overrides. `defaults` and
    overrides use dotted keys for nested fields ("decoding.temperature"); None values in
    overrides mean "not given" and are ignored."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    path = None
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise HarnessError("config file not found", path)
        text = read_text(path, user_encoding())[0]
        loaded = parse_yaml(text, path) or {}
        if not isinstance(loaded, dict):
            raise HarnessError("a config file must be a mapping of keys to values", path)
        data = loaded
        lines = yaml_key_lines(text)
    base: dict[str, Any] = {}
    for dotted, value in (defaults or {}).items():
        _set_dotted(base, dotted, value)
    data = _merge(base, data)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    return build_config(cls, data, path=path, lines=lines)


def field_help(cls: type, name: str) -> str:
    """The help text of a config field, with its default, for click options."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(default, tuple):
        default = " ".join(map(str, default))
    if isinstance(default, bool) or default == "":
        return f.metadata["help"]
    return f"{f.metadata['help']} [default: {default}]"
