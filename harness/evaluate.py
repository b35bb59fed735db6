"""`harness eval`: retrieve once per question, then for each model generate and record.

Everything the user can get wrong (eval set, index, model names) is checked before the run
folder is created, so bad input leaves `results/` untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.backends.base import BackendOptions, GenRequest, backend_registry, create_backend
from harness.config import EvalConfig, to_dict
from harness.errors import HarnessError
from harness.eval_set import EvalItem, load_eval_set
from harness.io import JsonlAppender, atomic_write_json, atomic_write_text, content_hash, read_jsonl, sha256_file
from harness.models import ModelSpec, get_model
from harness.prompts import Clause, build_messages, is_exact_refusal, prompt_hash
from harness.provenance import provenance
from harness.results.render import to_markdown
from harness.results.schema import SCHEMA_VERSION, compute_metrics

log = logging.getLogger(__name__)

ProgressFactory = Callable[[int, str], "Progress"]


class Progress:
    """A no-op progress bar; the CLI passes a tqdm-backed factory."""

    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EvalRun:
    run_dir: Path
    comparison: dict

    @property
    def markdown_path(self) -> Path:
        return self.run_dir / "comparison.md"


def new_run_dir(results_dir: Path, name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "run"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        run_dir = results_dir / (f"{stamp}-{slug}" if i == 0 else f"{stamp}-{slug}-{i}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise HarnessError("could not create a run folder", results_dir)


def run_eval(cfg: EvalConfig, progress: ProgressFactory | None = None, registry_path: Path = Path("models.json")) -> EvalRun:
    from retrieval.metrics import evaluate_hits
    from retrieval.search import Retriever

    make_bar = progress or (lambda total, desc: Progress())

    # 1. Check every input before anything is written.
    items: list[EvalItem] = load_eval_set(cfg.eval_set)
    if cfg.split:
        items = [it for it in items if it.split == cfg.split]
        if not items:
            raise HarnessError(f"no questions in split {cfg.split!r}", cfg.eval_set)
    if cfg.limit:
        items = items[: cfg.limit]
    backend_cls = backend_registry.get(cfg.backend)  # unknown names raise with the known ones
    specs: list[ModelSpec] = [get_model(name, cfg.base_model, registry_path) for name in dict.fromkeys(cfg.models)]
    for spec in specs:
        # A backend may check (and prepare, e.g. convert a bundled model) what it will load.
        getattr(backend_cls, "prepare", lambda s: None)(spec)
    retriever = Retriever.load(cfg.index, cfg.retrieval)

    # 2. Retrieve once; every model sees the same clauses.
    hits = retriever.search([it.question for it in items], cfg.k)
    retrieval_metrics = evaluate_hits(items, hits, retriever.index.chunks, cfg.k) \
        if any(it.answerable and it.evidence for it in items) else None
    decoding_hash = content_hash(to_dict(cfg.decoding))
    requests = []
    for it, its_hits in zip(items, hits):
        messages = build_messages(it.question, [Clause(h.chunk.text, h.chunk.metadata.get("breadcrumbs", "")) for h in its_hits], it.language)
        requests.append(GenRequest(request_id=it.id, messages=messages, language=it.language, decoding=cfg.decoding))
    # Similar lengths in one batch waste less padding.
    order = sorted(range(len(items)), key=lambda i: len(requests[i].messages[-1]["content"]))

    contexts = [[f"{h.chunk.metadata.get('breadcrumbs', '')}\n{h.chunk.text}".strip() for h in its] for its in hits]
    scorer = None
    if cfg.score:
        from harness.scoring.scorer import ScoreConfig, Scorer

        scorer = Scorer(ScoreConfig(threshold=cfg.score_threshold, judge=cfg.score_judge))

    run_dir = new_run_dir(Path(cfg.results_dir), cfg.run_name or "-".join(s.name for s in specs))
    run_id = run_dir.name
    atomic_write_text(run_dir / "config.yaml", _yaml(to_dict(cfg)))
    models_info: dict[str, dict] = {}
    items_path = run_dir / "items.jsonl"
    options = BackendOptions(dtype=cfg.dtype, device=cfg.device, load_in_4bit=cfg.load_in_4bit)

    with JsonlAppender(items_path) as out:
        for spec in specs:
            info: dict = {"spec": spec.to_dict(), "backend_info": None, "load_error": None}
            models_info[spec.name] = info
            bar = make_bar(len(items), f"{spec.name}")
            try:
                backend = create_backend(cfg.backend, spec, options)
            except Exception as e:  # noqa: BLE001 - recorded per item, the run goes on
                info["load_error"] = f"{type(e).__name__}: {e}"
                log.error("model %s failed to load: %s", spec.name, e)
                backend = None
            try:
                if backend is not None:
                    info["backend_info"] = backend.info()
                for b, start in enumerate(range(0, len(order), cfg.batch_size)):
                    batch = order[start:start + cfg.batch_size]
                    if backend is None:
                        gens = [None] * len(batch)
                    else:
                        gens = backend.generate([requests[i] for i in batch])
                    records = [_item_record(run_id, i, items[i], spec.name, hits[i], requests[i], decoding_hash,
                                            gen, f"{spec.name}:{b}", info["load_error"]) for i, gen in zip(batch, gens)]
                    if scorer is not None:
                        score_records(scorer, records, [contexts[i] for i in batch], [items[i] for i in batch])
                    for record in records:
                        out.append(record)
                    bar.update(len(batch))
            finally:
                bar.close()
                if backend is not None:
                    backend.close()

    records = read_jsonl(items_path)
    manifest_path = Path(cfg.index) / "manifest.json"
    comparison = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance(),
        "config": to_dict(cfg),
        "eval_set": {"path": str(cfg.eval_set), "sha256": sha256_file(cfg.eval_set), "n": len(items)},
        "index": {"path": str(cfg.index), "embedder": retriever.index.manifest["embedder"]["name"],
                  "n_chunks": retriever.index.manifest["n_chunks"], "manifest_sha256": sha256_file(manifest_path)},
        "retrieval": retrieval_metrics,
        "models": models_info,
        "metrics": compute_metrics(records, [s.name for s in specs]),
    }
    write_comparison(run_dir, comparison)
    return EvalRun(run_dir, comparison)


def write_comparison(run_dir: Path, comparison: dict) -> None:
    atomic_write_json(run_dir / "comparison.json", comparison)
    atomic_write_text(run_dir / "comparison.md", to_markdown(comparison))


def score_records(scorer, records: list[dict], contexts: list[list[str]], items: list[EvalItem]) -> None:
    """Add the scorer's verdict, the refusal grid cell and correctness to each record in place.
    Failed items are left unscored (they have no answer); they count as failed, not as verdicts."""
    from harness.scoring.correctness import correctness

    todo = [(r, c, it) for r, c, it in zip(records, contexts, items) if not r["error"]]
    scorer.prepare([(r["answer"], c) for r, c, _ in todo])
    for record, ctx, item in todo:
        result = scorer.score(record["answer"], ctx).to_dict(record["answer"])
        refused = result["verdict"] == "refused"
        if item.answerable:
            grid = "needless_refusal" if refused else ("hallucinated_answer" if result["hallucinated"] else "correct_answer")
        else:
            grid = "correct_refusal" if refused else "answered_unanswerable"
        record.update({
            "verdict": result["verdict"], "score": result["score"], "spans": result["spans"], "claims": result["claims"],
            "grid": grid, "hallucinated": grid in ("hallucinated_answer", "answered_unanswerable"),
            "correctness": correctness(record["answer"], item.gold_answer) if item.answerable else None,
        })


def _item_record(run_id, index, item, model, hits, request, decoding_hash, gen, batch_id, load_error) -> dict:
    error = load_error if gen is None else gen.error
    raw = "" if gen is None else gen.text
    answer = raw.strip()
    return {
        "run_id": run_id,
        "item_id": item.id,
        "index": index,
        "model": model,
        "question": item.question,
        "language": item.language,
        "category": item.category,
        "split": item.split,
        "answerable": item.answerable,
        "retrieved": [h.to_record() for h in hits],
        "prompt_hash": prompt_hash(request.messages),
        "decoding_hash": decoding_hash,
        "raw_answer": raw,
        "answer": answer,
        "refused_exact": (not error) and is_exact_refusal(answer, item.language),
        "prompt_tokens": 0 if gen is None else gen.prompt_tokens,
        "completion_tokens": 0 if gen is None else gen.completion_tokens,
        "finish_reason": "error" if error else gen.finish_reason,
        "batch_seconds": 0.0 if gen is None else round(gen.seconds, 4),
        "batch_size": 0 if gen is None else gen.batch_size,
        "batch_id": batch_id,
        "error": error,
    }


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
