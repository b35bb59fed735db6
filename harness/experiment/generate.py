"""Stages: plan the records (model x cell x repeat x question), then generate every answer that
the cache does not already hold.

The cache key is everything that decides an answer: the model (base weights, tokenizer, adapter
weights, backend, dtype, quantization), the prompt, the decoding settings (with the request's
own seed when sampling), the stop strings used while generating, and the batch size (bf16
answers change with it). Each finished batch goes into the cache before the next one starts, so
a killed run loses at most the batch in flight. Failed answers are recorded, never cached: the
next run retries them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from harness.backends.base import BackendOptions, GenRequest, Generation, backend_registry, create_backend
from harness.config import EvalConfig, StopConfig
from harness.experiment.plan import Cell, request_seed
from harness.experiment.retrieve import Question
from harness.experiment.store import JsonlStore, cache_key
from harness.io import content_hash
from harness.models import ModelSpec
from harness.trimming import stop_phrases

log = logging.getLogger(__name__)

GEN_FIELDS = ("raw_answer", "prompt_tokens", "completion_tokens", "finish_reason", "batch_seconds", "batch_size",
              "batch_id", "error")
# Fields that describe how (and how fast) an answer was made rather than what it is.
TIMING_FIELDS = ("run_id", "batch_seconds", "batch_size", "batch_id", "from_cache")


def plan_records(questions: Sequence[Question], specs: Sequence[ModelSpec], cells: Sequence[Cell]) -> list[dict]:
    """One record per model x cell x repeat x question, in that order (the order of items.jsonl)."""
    records = []
    for spec in specs:
        for cell in cells:
            decoding_hash = content_hash(cell.decoding.effective())
            for repeat, base_seed in enumerate(cell.seeds()):
                for index, q in enumerate(questions):
                    it = q.item
                    records.append({
                        "item_id": it.id, "index": index, "model": spec.name, "cell": cell.name, "repeat": repeat,
                        "seed": request_seed(base_seed, q.prompt_hash) if cell.decoding.do_sample else None,
                        "question": it.question, "language": it.language, "category": it.category,
                        "split": it.split, "answerable": it.answerable,
                        "retrieved": [{k: v for k, v in h.items() if k != "text"} for h in q.hits],
                        "prompt_hash": q.prompt_hash, "decoding_hash": decoding_hash,
                    })
    return records


@dataclass
class GenerationCounts:
    generated: int = 0
    from_cache: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"{self.generated} generated, {self.from_cache} from cache"


def generation_key(model_identity: dict, record: dict, cell: Cell, stops: tuple[str, ...], batch_size: int) -> str:
    return cache_key({"model": model_identity, "prompt": record["prompt_hash"], "decoding": cell.decoding.effective(),
                      "seed": record["seed"], "stops": list(stops), "batch_size": batch_size})


def generation_stops(language: str, cfg: StopConfig) -> tuple[str, ...]:
    return tuple(stop_phrases(language, cfg)) if cfg.at_generation else ()


class ModelLoader:
    """Loads one model at a time, freeing the previous one; a model that shares the loaded base
    (another LoRA adapter, or the base alone) is switched to instead of loaded again."""

    def __init__(self, backend: str, options: BackendOptions):
        self.backend_name = backend
        self.options = options
        self.current = None
        self.current_spec: ModelSpec | None = None

    def get(self, spec: ModelSpec):
        if self.current is not None and (spec == self.current_spec or getattr(self.current, "switch", lambda s: False)(spec)):
            self.current_spec = spec
            return self.current
        self.close()
        self.current = create_backend(self.backend_name, spec, self.options)
        self.current_spec = spec
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = self.current_spec = None


def generate(records: list[dict], questions: Sequence[Question], specs: Sequence[ModelSpec], cells: Sequence[Cell],
             cfg: EvalConfig, options: BackendOptions, store: JsonlStore,
             progress: Callable[[int, str], object], models_info: dict[str, dict]) -> GenerationCounts:
    """Fill each record's generation fields from the cache or the model. Records of a model whose
    answers are all cached never load it."""
    backend_cls = backend_registry.get(cfg.backend)
    by_cell = {c.name: c for c in cells}
    counts = GenerationCounts()
    loader = ModelLoader(cfg.backend, options)
    try:
        for spec in specs:
            info = models_info.setdefault(spec.name, {"spec": spec.to_dict(), "backend_info": None, "load_error": None})
            identity = getattr(backend_cls, "identity", lambda s, o: {"backend": cfg.backend, "model": s.to_dict()})(spec, options)
            info["identity"] = identity
            todo: list[tuple[dict, str, tuple[str, ...]]] = []
            for rec in (r for r in records if r["model"] == spec.name):
                stops = generation_stops(rec["language"], cfg.stops)
                key = generation_key(identity, rec, by_cell[rec["cell"]], stops, cfg.batch_size)
                cached = store.get(key)
                if cached is not None:
                    rec.update(cached, from_cache=True)
                    counts.from_cache += 1
                else:
                    todo.append((rec, key, stops))
            if todo:
                _generate_missing(todo, questions, by_cell, spec, cfg, loader, store, progress, info, counts)
    finally:
        loader.close()
    return counts


def _generate_missing(todo, questions, by_cell, spec, cfg, loader, store, progress, info, counts) -> None:
    try:
        backend = loader.get(spec)
        info["backend_info"] = backend.info()
    except Exception as e:  # noqa: BLE001 - recorded per item, the run goes on
        info["load_error"] = f"{type(e).__name__}: {e}"
        log.error("model %s failed to load: %s", spec.name, e)
        for rec, _, _ in todo:
            _fill(rec, None, info["load_error"], "")
        counts.failed += len(todo)
        return
    # Batches hold one cell each, with prompts of similar length in tokens where the backend can
    # count them (less padding than sorting by characters), else in characters.
    count = getattr(backend, "prompt_length", None)
    lengths = {}
    for rec, _, _ in todo:
        q = questions[rec["index"]]
        if rec["index"] not in lengths:
            lengths[rec["index"]] = count(q.messages, rec["language"]) if count else len(q.messages[-1]["content"])
    todo.sort(key=lambda t: (t[0]["cell"], t[0]["repeat"], lengths[t[0]["index"]]))
    bar = progress(len(todo), spec.name)
    try:
        start = 0
        while start < len(todo):
            cell = todo[start][0]["cell"]
            end = start
            while end < len(todo) and end - start < cfg.batch_size and todo[end][0]["cell"] == cell:
                end += 1
            batch = todo[start:end]
            requests = [GenRequest(request_id=rec["item_id"], messages=questions[rec["index"]].messages,
                                   language=rec["language"], decoding=by_cell[cell].decoding,
                                   seed=rec["seed"] or 0, stop_strings=stops) for rec, _, stops in batch]
            gens = backend.generate(requests)
            batch_id = uuid.uuid4().hex[:12]
            done = []
            for (rec, key, _), gen in zip(batch, gens):
                _fill(rec, gen, gen.error, batch_id)
                if gen.error:
                    counts.failed += 1
                else:
                    counts.generated += 1
                    done.append((key, {f: rec[f] for f in GEN_FIELDS}))
            store.put_many(done)
            bar.update(len(batch))
            start = end
    finally:
        bar.close()


def _fill(rec: dict, gen: Generation | None, error: str | None, batch_id: str) -> None:
    rec.update({
        "raw_answer": "" if gen is None else gen.text,
        "prompt_tokens": 0 if gen is None else gen.prompt_tokens,
        "completion_tokens": 0 if gen is None else gen.completion_tokens,
        "finish_reason": "error" if error else gen.finish_reason,
        "batch_seconds": 0.0 if gen is None else round(gen.seconds, 4),
        "batch_size": 0 if gen is None else gen.batch_size,
        "batch_id": batch_id,
        "error": error,
        "from_cache": False,
    })
