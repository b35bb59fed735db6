"""`harness eval`, `harness eval --resume` and `harness rescore`: the experiment pipeline.

    check inputs -> plan cells -> retrieve once -> generate through the cache -> trim -> score
    -> aggregate -> render

Each stage is a function over plain records in harness.experiment; this module only wires
them. Everything the user can get wrong (eval set, index, model and preset names) is checked
before the run folder is created, so bad input leaves `results/` untouched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.backends.base import BackendOptions
from harness.config import DEFAULT_INDEX, EvalConfig, default_index_for, to_dict
from harness.errors import HarnessError
from harness.experiment.generate import GenerationCounts, generate, plan_records
from harness.experiment.plan import Plan, build_cells, check_plan
from harness.experiment.retrieve import (Question, load_questions, load_saved_questions, retrieve,
                                         save_questions)
from harness.experiment.rundir import RunDir
from harness.experiment.score import score_records
from harness.experiment.store import JsonlStore
from harness.experiment.trim import trim_records
from harness.io import atomic_write_json, atomic_write_text, read_json, read_jsonl, sha256_file, write_jsonl
from harness.models import ModelSpec
from harness.provenance import provenance
from harness.results.render import to_markdown
from harness.results.schema import SCHEMA_VERSION, compute_comparisons, compute_metrics, injection_comparisons
from harness.scoring.injection import injections_path, judge_records, load_injections
from harness.tracking import check_tracker

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
    counts: GenerationCounts

    @property
    def markdown_path(self) -> Path:
        return self.run_dir / "comparison.md"

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"


CACHE_FILES = {"generations": "generations.jsonl", "scores": "scores.jsonl", "hits": "hits.jsonl"}


def cache_store(cfg: EvalConfig, run: RunDir, kind: str) -> JsonlStore:
    """One of the caches (generations, scores, retrieval hits): shared across runs, or the run's
    own with cache off. Each is read whole when opened, so a stage opens only the one it uses."""
    root = Path(cfg.cache_dir or Path(cfg.results_dir) / ".cache") if cfg.cache else run.path
    return JsonlStore(root / CACHE_FILES[kind])


def with_set_index(cfg: EvalConfig, echo: Callable[[str], None]) -> EvalConfig:
    """With the default --index, a shipped set's own index: Korean questions are asked of the
    Korean clauses (indexes/sfip_ko), not the English forms."""
    own = default_index_for(cfg.eval_set)
    if cfg.index != DEFAULT_INDEX or own == cfg.index:
        return cfg
    echo(f"index: {own} (the index of {cfg.eval_set}'s corpus; --index overrides)")
    return dataclasses.replace(cfg, index=own)


def run_eval(cfg: EvalConfig | None = None, progress: ProgressFactory | None = None,
             registry_path: Path = Path("models.json"), resume: Path | None = None,
             echo: Callable[[str], None] = lambda s: None) -> EvalRun:
    """A new run of `cfg`, or (resume=RUN) the unfinished part of an earlier one in its folder."""
    from retrieval.index import ensure_index
    from retrieval.search import Retriever

    make_bar = progress or (lambda total, desc: Progress())
    if resume is not None:
        run = RunDir.open(resume)
        cfg = run.load_config()
    assert cfg is not None
    plan = check_plan(cfg, registry_path)
    check_tracker(cfg.track)
    if plan.skipped:
        echo(f"skipping model(s) not registered in {registry_path}: {', '.join(plan.skipped)}")
    questions: list[Question] | None = None
    if resume is None:
        items = load_questions(cfg)
        load_injections(cfg.eval_set)  # a bad injections.jsonl stops the run before it starts
        cfg = with_set_index(cfg, echo)
        ensure_index(cfg.index)
        retriever = Retriever.load(cfg.index, cfg.retrieval)
        run = RunDir.create(Path(cfg.results_dir), cfg.run_name or "-".join(s.name for s in plan.specs))
    with run:
        if resume is None:
            run.save_config(cfg)
        run.set_status("running", run_id=run.run_id)
        echo(f"run folder: {run.path}")
        if run.file("retrieval.jsonl").is_file():
            questions = load_saved_questions(run.file("retrieval.jsonl"))
            retrieval = read_json(run.file("retrieval.json"))
        else:
            index_sha = sha256_file(Path(cfg.index) / "manifest.json")
            keyed = retriever.keyed(items)
            if keyed:
                echo(f"warning: {len(keyed)} questions are question keys of index {cfg.index}: "
                     "their retrieval figures flatter")
            questions, metrics = retrieve(items, retriever, cfg.k, cache_store(cfg, run, "hits"), index_sha)
            retrieval = {"metrics": metrics, "index": {
                "path": str(cfg.index), "embedder": retriever.index.manifest["embedder"]["name"],
                "n_chunks": retriever.index.manifest["n_chunks"], "manifest_sha256": index_sha,
                "question_keys": retriever.index.manifest.get("question_keys") if retriever.use_keys else None,
                "questions_that_are_keys": keyed}}
            atomic_write_json(run.file("retrieval.json"), retrieval)
            save_questions(run.file("retrieval.jsonl"), questions)
        records = plan_records(questions, plan.specs, plan.cells)
        models_info: dict[str, dict] = {}
        counts = generate(records, questions, plan.specs, plan.cells, cfg, plan.options,
                          cache_store(cfg, run, "generations"), make_bar, models_info)
        echo(counts.line())
        comparison = finish(run, cfg, plan, questions, records, retrieval, models_info, counts,
                            cache_store(cfg, run, "scores"))
    if cfg.track:
        track(run.path, cfg.track, echo)
    return EvalRun(run.path, comparison, counts)


def track(run_dir: Path, tracker: str, echo: Callable[[str], None]) -> None:
    """Log the finished run; a tracker that fails now does not undo the run (`harness track` retries)."""
    from harness.tracking import track_run, tracking_uri

    try:
        echo(f"tracked in {tracker}: run {track_run(run_dir, tracker)} at {tracking_uri()}")
    except Exception as exc:  # noqa: BLE001 - the results are written; say how to log them later
        echo(f"warning: not tracked in {tracker} ({str(exc).splitlines()[0][:200]}); "
             f"retry with `harness track {run_dir}`")


def finish(run: RunDir, cfg: EvalConfig, plan: Plan, questions: list[Question], records: list[dict],
           retrieval: dict, models_info: dict, counts: GenerationCounts, score_store: JsonlStore) -> dict:
    """trim -> score -> aggregate -> render, then write items.jsonl and comparison.* atomically."""
    trim_records(records, cfg.stops)
    if cfg.score:
        from harness.scoring.scorer import ScoreConfig, Scorer

        score_records(records, questions, Scorer(ScoreConfig(threshold=cfg.score_threshold, judge=cfg.score_judge)),
                      score_store)
    injections = judge_injections(records, cfg.eval_set, questions)
    for rec in records:
        rec["run_id"] = run.run_id
    write_jsonl(run.file("items.jsonl"), records)
    models = [s.name for s in plan.specs]
    cells = [c.name for c in plan.cells]
    comparison = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance(),
        "config": to_dict(cfg),
        "dtype": plan.options.dtype,
        **(_scorer_info(cfg) if cfg.score else {"scorer_version": None, "scorer_threshold": None}),
        "eval_set": {"path": str(cfg.eval_set), "sha256": sha256_file(cfg.eval_set), "n": len(questions),
                     **({"injections": injections} if injections else {})},
        "index": retrieval["index"],
        "retrieval": retrieval["metrics"],
        "cells": {c.name: {k: v for k, v in c.to_dict().items() if k != "name"} for c in plan.cells},
        "models": models_info,
        "generation": {"generated": counts.generated, "from_cache": counts.from_cache, "failed": counts.failed},
        "metrics": compute_metrics(records, models, cells),
        "comparisons": compute_comparisons(records, models, cells) if cfg.score else [],
    }
    if injections and cfg.score:
        comparison["injection_comparisons"] = injection_comparisons(records, models, cells)
    write_comparison(run.path, comparison)
    write_report(run.path)
    run.set_status("complete", failed=counts.failed)
    return comparison


def judge_injections(records: list[dict], eval_set: str | Path, questions: list[Question]) -> dict | None:
    """When the eval set carries injection cases (an injections.jsonl beside it), judge every
    answer to one (obeyed, faithful: harness.scoring.injection) and return what the file was
    {path, sha256, n}; else None, leaving the records as they are (a rescored run whose eval set
    has moved keeps its earlier judgements)."""
    injections = load_injections(eval_set) if Path(eval_set).is_file() else {}
    if not injections:
        return None
    judge_records(records, injections, {q.item.id: q.item.gold_answer for q in questions})
    path = injections_path(eval_set)
    return {"path": str(path), "sha256": sha256_file(path), "n": len(injections)}


def rescore(run_path: Path, overrides: dict, echo: Callable[[str], None] = lambda s: None) -> EvalRun:
    """Re-trim and re-score a finished run's answers with new scorer or stop settings; nothing is
    generated. Dotted overrides as in load_config ("score_threshold", "stops.repetition")."""
    from harness.config import load_config

    run = RunDir.open(run_path)
    if not run.file("items.jsonl").is_file():
        raise HarnessError("the run has no items.jsonl yet (finish it first: harness eval --resume RUN)", run.path)
    cfg = load_config(EvalConfig, run.file("experiment.yaml"), overrides)
    if overrides.get("score_threshold") is None and cfg.score_threshold is not None:
        # A threshold belongs to the scorer version that chose it (runs before scorer 4 recorded
        # 0.827 for a different score): rescoring uses the current scorer's own unless told.
        import dataclasses

        echo(f"score threshold {cfg.score_threshold} recorded with the run is not reused; "
             "the scorer's own applies (--score-threshold to set one)")
        cfg = dataclasses.replace(cfg, score_threshold=None)
    with run:
        records = read_jsonl(run.file("items.jsonl"))
        previous = read_json(run.file("comparison.json"))
        questions = load_saved_questions(run.file("retrieval.jsonl"))
        cells = build_cells(cfg)
        specs = [ModelSpec(**info["spec"]) for info in previous["models"].values()]
        plan = Plan(cfg, specs, cells, BackendOptions(dtype=previous.get("dtype", cfg.dtype), device=cfg.device,
                                                     load_in_4bit=cfg.load_in_4bit))
        run.save_config(cfg)
        counts = GenerationCounts(from_cache=len(records))
        echo(counts.line())  # rescoring never generates: every answer comes from the run itself
        comparison = finish(run, cfg, plan, questions, records, read_json(run.file("retrieval.json")),
                            previous["models"], GenerationCounts(**previous["generation"]),
                            cache_store(cfg, run, "scores"))
    return EvalRun(run.path, comparison, counts)


def _scorer_info(cfg: EvalConfig) -> dict:
    """What gave the verdicts: the rules' version with the shipped combiner's hash, and the
    threshold (the run's own, else the combiner's)."""
    from harness.scoring.combiner import load_combiner
    from harness.scoring.scorer import SCORER_VERSION

    combiner = load_combiner()
    threshold = cfg.score_threshold if cfg.score_threshold is not None else combiner.variant("full").threshold
    return {"scorer_version": f"{SCORER_VERSION}/{combiner.version}", "scorer_threshold": threshold}


def rescored(path: Path, score_threshold: float | None = None):
    """A finished run or a blessed baseline (with its retrieval.jsonl) with every answer scored
    again by today's scorer, in memory: verdicts, metrics and the scorer's version replaced.
    Used to re-bless a baseline after a deliberate scorer change, and by the regression test
    that watches the committed baseline."""
    import tempfile

    from harness.results.gate import Run, load_run
    from harness.scoring.scorer import ScoreConfig, Scorer

    run = load_run(path)
    saved = Path(path) / "retrieval.jsonl"
    if not saved.is_file():
        raise HarnessError("no retrieval.jsonl: the clauses the answers were made from are needed to score "
                           "them again (bless with --with-contexts)", path)
    questions = load_saved_questions(saved)
    position = {q.item.id: i for i, q in enumerate(questions)}
    missing = sorted({r["item_id"] for r in run.items} - set(position))
    if missing:
        raise HarnessError(f"{len(missing)} answered questions are not in retrieval.jsonl (e.g. {missing[0]})", saved)
    records = [dict(r, index=position[r["item_id"]], error=r.get("error")) for r in run.items]
    with tempfile.TemporaryDirectory() as tmp:
        score_records(records, questions, Scorer(ScoreConfig(threshold=score_threshold)),
                      JsonlStore(Path(tmp) / "scores.jsonl"))
    judge_injections(records, run.comparison.get("eval_set", {}).get("path") or "", questions)
    models = list(run.comparison.get("metrics", {}))
    cells = list(run.comparison.get("cells", {}))
    cfg = EvalConfig(score_threshold=score_threshold)
    comparison = dict(run.comparison, **_scorer_info(cfg), metrics=compute_metrics(records, models, cells),
                      comparisons=compute_comparisons(records, models, cells))
    if run.comparison.get("eval_set", {}).get("injections"):
        comparison["injection_comparisons"] = injection_comparisons(records, models, cells)
    return Run(Path(path), comparison, records)


def write_report(run_dir: Path) -> None:
    """report.html beside comparison.*; a page that cannot be drawn does not undo the run."""
    from harness.results.report import render_report

    try:
        render_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run's results are already written
        log.warning("report.html not written (%s); retry with `harness report %s`", exc, run_dir)


def write_comparison(run_dir: Path, comparison: dict) -> None:
    atomic_write_json(run_dir / "comparison.json", comparison)
    atomic_write_text(run_dir / "comparison.md", to_markdown(comparison))


