"""Noise-aware regression gates: is a run worse than a baseline by more than a tolerance?

A gate compares one model (and decoding cell) of a run with the same model in a baseline on the
questions both answered. Per question it takes the metric's value (the mean over repeats), and
the paired bootstrap 95% CI of (run - baseline) over questions. For a metric where lower is
better (hallucination) the gate fails only when that whole interval lies above +tolerance: a
change inside noise, or smaller than the tolerance, passes. Runs that do not measure the same
thing (other questions, another index, another scorer) fail outright: comparing different
things is the commonest silent error.

A baseline is a run folder, or one stored by `harness bless` under baselines/NAME/ (the same
files, items reduced to what gates and re-scoring need).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.paths import check_name
from harness.io import atomic_write_json, write_jsonl
from harness.results.run import Run, load_run
from harness.stats import paired_bootstrap

BASELINES_DIR = Path("baselines")


@dataclass(frozen=True)
class GateMetric:
    """A per-item value (None = not applicable to this item) and which way is better."""

    value: Callable[[dict], float | None]
    lower_is_better: bool
    help: str


def _grid(cell: str) -> Callable[[dict], float | None]:
    return lambda r: float(r["grid"] == cell)


def _correctness(key: str) -> Callable[[dict], float | None]:
    return lambda r: (r.get("correctness") or {}).get(key)


GATE_METRICS: dict[str, GateMetric] = {
    "hallucination_rate": GateMetric(lambda r: float(r["hallucinated"]), True, "share of answers hallucinated"),
    "hallucination_rate_untrimmed": GateMetric(lambda r: float(r.get("untrimmed", r)["hallucinated"]), True,
                                               "the same before stop-phrase trimming"),
    "answered_unanswerable": GateMetric(_grid("answered_unanswerable"), True, "unanswerable questions answered"),
    "needless_refusal": GateMetric(_grid("needless_refusal"), True, "answerable questions refused"),
    "correct_answer": GateMetric(_grid("correct_answer"), False, "answerable questions answered without hallucination"),
    "correct_refusal": GateMetric(_grid("correct_refusal"), False, "unanswerable questions refused"),
    "token_f1": GateMetric(_correctness("token_f1"), False, "token F1 against the gold answer"),
    "numeric_agreement": GateMetric(_correctness("numeric_agreement"), False, "numbers agree with the gold answer"),
    "key_fact_coverage": GateMetric(_correctness("key_fact_coverage"), False, "gold key facts covered"),
}

# What `harness bless` keeps of each item: enough to gate on, to read, and to score again.
BLESSED_FIELDS = ("item_id", "model", "cell", "repeat", "question", "language", "category", "split", "answerable",
                  "prompt_hash", "raw_answer", "answer", "stop_fired", "refused_exact", "error", "verdict", "score",
                  "spans", "grid", "hallucinated", "correctness", "untrimmed", "prompt_tokens", "completion_tokens",
                  "finish_reason", "batch_seconds", "batch_size", "batch_id", "run_id")


def resolve_baseline(name_or_path: str | Path, baselines_dir: Path = BASELINES_DIR) -> Path:
    """NAME -> baselines/NAME; a path to a folder is taken as it is."""
    path = Path(name_or_path)
    if (path / "comparison.json").is_file():
        return path
    named = Path(baselines_dir) / str(name_or_path)
    if (named / "comparison.json").is_file():
        return named
    known = sorted(p.name for p in Path(baselines_dir).glob("*") if (p / "comparison.json").is_file()) \
        if Path(baselines_dir).is_dir() else []
    raise HarnessError(f"no baseline {str(name_or_path)!r} (neither a run folder nor {named}; "
                       f"blessed baselines: {', '.join(known) or 'none'})")


def bless(run_dir: Run | str | Path, name: str, baselines_dir: Path = BASELINES_DIR, with_contexts: bool = False,
          overwrite: bool = False) -> Path:
    """Store a run as baselines/NAME: comparison.json plus the per-item verdicts (and, with
    `with_contexts`, retrieval.jsonl: the clauses every model saw, so the answers can be scored
    again by a later scorer). `run_dir` may be a Run already in memory (a re-scored one)."""
    check_name(name, "baseline name")
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    if not run.items or not any("grid" in r for r in run.items):
        raise HarnessError("the run has no scored answers to bless (run it with scoring on)", run.path)
    target = Path(baselines_dir) / name
    if target.exists() and not overwrite:
        raise HarnessError(f"baseline {name!r} exists ({target}); pass --overwrite to replace it")
    retrieval = run.path / "retrieval.jsonl"
    if with_contexts and not retrieval.is_file():
        raise HarnessError("the run has no retrieval.jsonl to keep its contexts", run.path)
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    comparison = dict(run.comparison, blessed_from=str(run.path))
    atomic_write_json(tmp / "comparison.json", comparison)
    write_jsonl(tmp / "items.jsonl", [{k: r[k] for k in BLESSED_FIELDS if k in r} for r in run.items])
    if with_contexts:
        shutil.copyfile(retrieval, tmp / "retrieval.jsonl")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)  # the baseline appears whole or not at all
    return target


@dataclass
class GateResult:
    metric: str
    model: str
    cell_run: str
    cell_baseline: str
    run: str
    baseline: str
    tolerance: float
    lower_is_better: bool
    n: int = 0
    value_run: float | None = None
    value_baseline: float | None = None
    difference: float | None = None
    ci: list[float] | None = None
    worse: list[dict] = field(default_factory=list)  # questions that moved the wrong way
    better: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the runs cannot be compared

    @property
    def regressed(self) -> bool:
        if self.ci is None:
            return False
        return self.ci[0] > self.tolerance if self.lower_is_better else self.ci[1] < -self.tolerance

    @property
    def passed(self) -> bool:
        return not self.problems and not self.regressed

    def table(self) -> str:
        def f(v: Any) -> str:
            return "–" if v is None else f"{v:.3f}"

        direction = "lower is better" if self.lower_is_better else "higher is better"
        ci = "–" if self.ci is None else f"[{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"
        status = "PROBLEM" if self.problems else "REGRESSION" if self.regressed else "ok"
        lines = [f"| model · cell | metric ({direction}) | baseline | run | run − baseline [95% CI] | tolerance | "
                 f"questions | worse / better | gate |",
                 "|---|---|---:|---:|---|---:|---:|---|---|",
                 f"| {self.model} · {self.cell_run} | {self.metric} | {f(self.value_baseline)} | {f(self.value_run)} "
                 f"| {'–' if self.difference is None else f'{self.difference:+.3f}'} {ci} | {self.tolerance:.3f} "
                 f"| {self.n} | {len(self.worse)} / {len(self.better)} | {status} |"]
        return "\n".join(lines)

    def message(self) -> str:
        head = f"{self.metric} of {self.model} ({self.cell_run}) in {self.run} vs baseline {self.baseline}"
        if self.problems:
            return f"{head}: cannot compare: " + "; ".join(self.problems)
        diff = f"{self.difference:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]" if self.ci else "–"
        if not self.regressed:
            return f"{head}: no regression ({self.value_baseline:.3f} -> {self.value_run:.3f}, {diff}, " \
                   f"tolerance {self.tolerance}, {self.n} questions)"
        lines = [f"{head}: REGRESSION {self.value_baseline:.3f} -> {self.value_run:.3f}, change {diff} lies "
                 f"entirely beyond the tolerance {self.tolerance} ({self.n} shared questions; "
                 f"{len(self.worse)} worse, {len(self.better)} better)"]
        for q in self.worse[:20]:
            lines.append(f"  worse  {q['item_id']}: {q['baseline']:.2f} -> {q['run']:.2f}  {q['question'][:90]}")
        if len(self.worse) > 20:
            lines.append(f"  ... and {len(self.worse) - 20} more")
        return "\n".join(lines)


def _pick_cell(run: Run, model: str, wanted: str | None) -> str | None:
    cells = run.cells(model)
    if wanted:
        return wanted if wanted in cells else None
    return cells[0] if len(cells) == 1 else None


def _per_question(items: list[dict], model: str, cell: str, value) -> tuple[dict[str, float], dict[str, str]]:
    """Mean over repeats of the metric per question (failed and unscored items left out), and
    each question's text."""
    values: dict[str, list[float]] = {}
    texts: dict[str, str] = {}
    for r in items:
        if r["model"] != model or r["cell"] != cell:
            continue
        texts[r["item_id"]] = r.get("question", "")
        if r.get("error") or "grid" not in r:
            continue
        v = value(r)
        if v is not None:
            values.setdefault(r["item_id"], []).append(float(v))
    return {q: sum(v) / len(v) for q, v in values.items()}, texts


def check_regression(run: Run | str | Path, baseline: Run | str | Path, metric: str = "hallucination_rate",
                     model: str | None = None, tolerance: float = 0.02, cell: str | None = None,
                     baseline_cell: str | None = None, resamples: int = 2000) -> GateResult:
    """Gate `model` of `run` against `baseline` on `metric` (see GATE_METRICS)."""
    if metric not in GATE_METRICS:
        raise HarnessError(f"unknown gate metric {metric!r} (known: {', '.join(GATE_METRICS)})")
    run = run if isinstance(run, Run) else load_run(run)
    baseline = baseline if isinstance(baseline, Run) else load_run(resolve_baseline(baseline))
    gm = GATE_METRICS[metric]
    models = list(run.comparison.get("metrics", {}))
    if model is None:
        if len(models) != 1:
            raise HarnessError(f"run {run.name} has models {', '.join(models)}: name the one to gate")
        model = models[0]
    cell_run = _pick_cell(run, model, cell)
    cell_base = _pick_cell(baseline, model, baseline_cell or cell) or _pick_cell(baseline, model, None)
    result = GateResult(metric, model, cell_run or str(cell), cell_base or str(baseline_cell), run.name,
                        baseline.name, tolerance, gm.lower_is_better)
    problems = result.problems
    if model not in run.comparison.get("metrics", {}):
        problems.append(f"model {model!r} is not in the run (it has: {', '.join(models) or 'none'})")
    if model not in baseline.comparison.get("metrics", {}):
        problems.append(f"model {model!r} is not in the baseline "
                        f"(it has: {', '.join(baseline.comparison.get('metrics', {})) or 'none'})")
    if not problems and cell_run is None:
        problems.append(f"choose the run's decoding cell ({', '.join(run.cells(model))})")
    if not problems and cell_base is None:
        problems.append(f"choose the baseline's decoding cell ({', '.join(baseline.cells(model))})")
    for key, what in (("scorer_version", "scorer"), ("scorer_threshold", "scorer threshold")):
        a, b = run.comparison.get(key), baseline.comparison.get(key)
        if a != b:
            problems.append(f"{what} differs: run {a}, baseline {b} (re-score one with `harness rescore`, "
                            f"or re-bless with `harness bless --rescore`)")
    ia, ib = run.comparison.get("index", {}), baseline.comparison.get("index", {})
    if ia.get("manifest_sha256") != ib.get("manifest_sha256"):
        problems.append(f"index differs: run {ia.get('path')} ({str(ia.get('manifest_sha256'))[:12]}), "
                        f"baseline {ib.get('path')} ({str(ib.get('manifest_sha256'))[:12]})")
    if problems:
        return result
    vr, texts_r = _per_question(run.items, model, cell_run, gm.value)
    vb, texts_b = _per_question(baseline.items, model, cell_base, gm.value)
    only_run, only_base = sorted(set(texts_r) - set(texts_b)), sorted(set(texts_b) - set(texts_r))
    changed = sorted(q for q in set(texts_r) & set(texts_b) if texts_r[q] != texts_b[q])
    if only_run or only_base or changed:
        parts = []
        if only_base:
            parts.append(f"{len(only_base)} baseline questions missing from the run (e.g. {', '.join(only_base[:3])})")
        if only_run:
            parts.append(f"{len(only_run)} run questions not in the baseline (e.g. {', '.join(only_run[:3])})")
        if changed:
            parts.append(f"{len(changed)} questions with the same id but other text (e.g. {', '.join(changed[:3])})")
        problems.append("the runs do not share their questions: " + "; ".join(parts))
        return result
    shared = [q for q in texts_b if q in vr and q in vb]
    if not shared:
        problems.append(f"no question has a {metric} value in both")
        return result
    a, b = [vb[q] for q in shared], [vr[q] for q in shared]
    stats = paired_bootstrap(a, b, resamples)
    result.n, result.difference, result.ci = len(shared), stats["value"], stats["ci"]
    result.value_baseline, result.value_run = sum(a) / len(a), sum(b) / len(b)
    for q, x, y in zip(shared, a, b):
        if x == y:
            continue
        moved = {"item_id": q, "baseline": x, "run": y, "question": texts_b[q]}
        ((result.worse if (y > x) == gm.lower_is_better else result.better)).append(moved)
    return result


def assert_no_regression(run: Run | str | Path, baseline: Run | str | Path, metric: str = "hallucination_rate",
                         model: str | None = None, tolerance: float = 0.02, cell: str | None = None,
                         baseline_cell: str | None = None) -> GateResult:
    """pytest-friendly: raises AssertionError naming the flipped questions on a regression or
    when the two runs do not measure the same thing; returns the result otherwise."""
    result = check_regression(run, baseline, metric, model, tolerance, cell, baseline_cell)
    if not result.passed:
        raise AssertionError(result.message())
    return result
