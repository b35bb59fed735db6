"""Experiment tracking where users already keep their runs: MLflow, an optional extra
(`pip install 'rag-harness[mlflow]'`), so the core install stays light.

Where: MLFLOW_TRACKING_URI as MLflow reads it; when unset, a local store in ./mlruns
(mlruns/mlflow.db, artifacts beside it). The experiment is MLFLOW_EXPERIMENT_NAME, else
"harness". Credentials (MLFLOW_TRACKING_TOKEN, ...) stay in the environment: nothing here
writes them anywhere.

A run is logged from its folder's files only (comparison.json, report.html, plots), like the
report: parameters (models with their base and adapter hashes, decoding cells, eval-set and
index hashes, scorer version), one metric per model, cell and measure, and the files as
artifacts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import HarnessError
from harness.io import read_json

TRACKERS = ("mlflow",)
DEFAULT_EXPERIMENT = "harness"
LOCAL_STORE = Path("mlruns")


def check_tracker(tracker: str) -> None:
    """Fail before any work is done when the tracker is unknown or its package is missing."""
    if not tracker:
        return
    if tracker not in TRACKERS:
        raise HarnessError(f"unknown tracker {tracker!r} (known: {', '.join(TRACKERS)})")
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise HarnessError("--track mlflow needs MLflow: pip install 'rag-harness[mlflow]'") from None


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else a local SQLite store under ./mlruns (artifacts in ./mlruns too)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    LOCAL_STORE.mkdir(exist_ok=True)
    return f"sqlite:///{(LOCAL_STORE / 'mlflow.db').resolve()}"


def _mlflow():
    check_tracker("mlflow")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    if mlflow.get_experiment_by_name(name) is None:
        # Artifacts next to a local store, not wherever the process happens to run.
        location = (LOCAL_STORE / "artifacts").resolve().as_uri() if "MLFLOW_TRACKING_URI" not in os.environ else None
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return mlflow


def metric_key(*parts: str) -> str:
    # MLflow keys allow letters, digits, _ - . / and spaces; cell names may hold [ ] = ,
    return "/".join(re.sub(r"[^\w\-. ]", "_", p) for p in parts)


RATES = ("hallucination_rate", "hallucination_rate_untrimmed", "hallucination_rate_answered", "refusal_rate")
MEANS = ("token_f1", "numeric_agreement", "key_fact_coverage", "tokens_per_s", "mean_answer_tokens")


def run_params(comparison: dict) -> dict[str, str]:
    cfg = comparison.get("config", {})
    params = {
        "run_id": comparison.get("run_id"), "eval_set": comparison.get("eval_set", {}).get("path"),
        "eval_set_sha256": comparison.get("eval_set", {}).get("sha256"),
        "eval_set_n": comparison.get("eval_set", {}).get("n"),
        "index": comparison.get("index", {}).get("path"),
        "index_sha256": comparison.get("index", {}).get("manifest_sha256"),
        "embedder": comparison.get("index", {}).get("embedder"), "k": cfg.get("k"),
        "scorer_version": comparison.get("scorer_version"), "scorer_threshold": comparison.get("scorer_threshold"),
        "backend": cfg.get("backend"), "dtype": comparison.get("dtype"), "batch_size": cfg.get("batch_size"),
        "git_sha": comparison.get("provenance", {}).get("git_sha"),
        "harness_version": comparison.get("provenance", {}).get("harness_version"),
    }
    for name, info in comparison.get("models", {}).items():
        spec, identity = info.get("spec", {}), info.get("identity") or {}
        params[f"model.{name}.base_model"] = spec.get("base_model")
        params[f"model.{name}.adapter"] = spec.get("adapter_dir") or "none"
        params[f"model.{name}.adapter_hash"] = identity.get("adapter") or spec.get("adapter_sha") or "none"
        params[f"model.{name}.base_hash"] = identity.get("base")
    for cell, c in comparison.get("cells", {}).items():
        d = c.get("decoding", {})
        params[f"cell.{cell}"] = ", ".join(f"{k}={d[k]}" for k in sorted(d)) + f", repeats={c.get('repeats', 1)}"
    # MLflow params are strings of at most 6,000 characters.
    return {metric_key(k): ("" if v is None else str(v))[:6000] for k, v in params.items()}


def run_metrics(comparison: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for model, cells in comparison.get("metrics", {}).items():
        for cell, m in cells.items():
            for key in RATES + MEANS:
                v = m.get(key)
                v = v.get("value") if isinstance(v, dict) else v
                if isinstance(v, (int, float)):
                    out[metric_key(model, cell, key)] = float(v)
            for key in ("n", "n_failed", "trimmed", "truncated"):
                if isinstance(m.get(key), (int, float)):
                    out[metric_key(model, cell, key)] = float(m[key])
            for g, count in (m.get("refusal_grid") or {}).items():
                out[metric_key(model, cell, "grid", g)] = float(count)
            for category, c in (m.get("by_category") or {}).items():
                v = (c.get("hallucination_rate") or {}).get("value")
                if v is not None:
                    out[metric_key(model, cell, "category", category, "hallucination_rate")] = float(v)
            for key, r in (m.get("injection") or {}).items():  # prompt-injection cases: obeyed, faithful
                if key in ("obeyed", "obeyed_untrimmed", "faithful") and (r or {}).get("value") is not None:
                    out[metric_key(model, cell, "injection", key)] = float(r["value"])
    return out


def track_run(run_dir: str | Path, tracker: str = "mlflow") -> str:
    """Log a finished run folder; returns the tracker's run id."""
    run_dir = Path(run_dir)
    comparison = read_json(run_dir / "comparison.json")
    mlflow = _mlflow()
    with mlflow.start_run(run_name=comparison.get("run_id", run_dir.name)) as active:
        mlflow.set_tags({"harness.kind": "eval", "harness.run_dir": str(run_dir)})
        mlflow.log_params(run_params(comparison))
        mlflow.log_metrics(run_metrics(comparison))
        for name in ("report.html", "comparison.json", "comparison.md"):
            if (run_dir / name).is_file():
                mlflow.log_artifact(str(run_dir / name))
        if (run_dir / "plots").is_dir():
            mlflow.log_artifacts(str(run_dir / "plots"), artifact_path="plots")
        return active.info.run_id


def prepare_training_tracking(tracker: str) -> str:
    """For `harness train --track mlflow`: the value of TRL's `report_to`, with the same store
    and experiment as `harness eval --track` (transformers' MLflow callback reads the env)."""
    if not tracker:
        return "none"
    _mlflow()  # the experiment exists, with its artifacts where `harness eval --track` puts them
    os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri())
    os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    return tracker
