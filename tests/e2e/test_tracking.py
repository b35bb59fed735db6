"""`harness eval --track mlflow` against a real local MLflow store, read back with MLflow's client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STARTER
from tests.e2e.conftest import run

pytestmark = pytest.mark.usefixtures("in_tmp")


@pytest.fixture
def local_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "harness-e2e")
    return pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'rag-harness[mlflow]')")


def test_eval_track_mlflow_logs_params_metrics_and_artifacts(tmp_path, sfip_index, local_store):
    mlflow = local_store
    result = run("eval", "--backend", "scripted", "--models", "base", "--decoding", "greedy", "seed-optimized",
                 "--eval-set", STARTER, "--index", sfip_index, "--limit", "4", "--results-dir", tmp_path / "results",
                 "--track", "mlflow")
    assert result.exit_code == 0, result.output
    assert "tracked in mlflow: run " in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    comparison = json.loads((run_dir / "comparison.json").read_text())
    client = mlflow.tracking.MlflowClient()
    experiment = client.get_experiment_by_name("harness-e2e")
    [logged] = client.search_runs([experiment.experiment_id])
    params, metrics = logged.data.params, logged.data.metrics
    assert params["run_id"] == comparison["run_id"] and params["scorer_version"] == comparison["scorer_version"]
    assert params["index_sha256"] == comparison["index"]["manifest_sha256"]
    assert params["eval_set_sha256"] == comparison["eval_set"]["sha256"]
    assert "temperature=0.1" in params["cell.seed-optimized"] and params["model.base.adapter"] == "none"
    for cell in ("greedy", "seed-optimized"):
        want = comparison["metrics"]["base"][cell]["hallucination_rate"]["value"]
        assert metrics[f"base/{cell}/hallucination_rate"] == pytest.approx(want)
        assert metrics[f"base/{cell}/n"] == 4
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "comparison.json", "comparison.md", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(logged.info.run_id, "plots")}
    assert "plots/hallucination.png" in plots
    local = client.download_artifacts(logged.info.run_id, "comparison.json", str(tmp_path / "dl"))
    assert json.loads(Path(local).read_text())["run_id"] == comparison["run_id"]
    # `harness track` logs a finished run again (a second MLflow run).
    again = run("track", run_dir)
    assert again.exit_code == 0, again.output
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_unknown_tracker_fails_before_any_work(tmp_path, sfip_index):
    result = run("eval", "--backend", "scripted", "--models", "base", "--eval-set", STARTER, "--index", sfip_index,
                 "--results-dir", tmp_path / "results", "--track", "wandb")
    assert result.exit_code == 2 and "unknown tracker 'wandb' (known: mlflow)" in result.output
    assert not (tmp_path / "results").exists()
