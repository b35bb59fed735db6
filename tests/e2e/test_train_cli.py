"""`harness data build` -> `harness train` -> `harness eval` through the CLI, on the tiny model, and bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import run

SFIP = REPO / "eval_sets" / "sfip" / "questions.jsonl"


pytestmark = pytest.mark.usefixtures("in_tmp")


@pytest.fixture
def small_set(tmp_path):
    rows = [json.loads(line) for line in SFIP.read_text(encoding="utf-8").splitlines()]
    keep = [r for r in rows if r["split"] == "train"][:6] + [r for r in rows if r["split"] == "dev"][:2]
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    return path


def test_build_train_eval(tmp_path, sfip_index, tiny_model_dir, small_set):
    built = run("data", "build", "--dataset", "rag", "--eval-set", small_set, "--index", sfip_index,
                "--base-model", tiny_model_dir, "--out", "rag.jsonl")
    assert built.exit_code == 0, built.output
    assert built.stdout.strip() == "rag.jsonl" and '"by_kind"' in built.stderr
    trained = run("train", "--dataset", "rag.jsonl", "--name", "v2", "--base-model", tiny_model_dir, "--max-steps", "2",
                  "--grad-accum", "2", "--dtype", "float32", "--device", "cpu")
    assert trained.exit_code == 0, trained.output
    assert "trained v2: 2 steps" in trained.stderr and (tmp_path / "adapters" / "v2" / "adapter_model.safetensors").is_file()
    registry = json.loads((tmp_path / "models.json").read_text(encoding="utf-8"))
    assert registry["models"]["v2"]["adapter_dir"] == "adapters/v2"
    again = run("train", "--dataset", "rag.jsonl", "--name", "v2", "--base-model", tiny_model_dir, "--max-steps", "1")
    assert again.exit_code == 2 and "already registered (pass --overwrite" in again.stderr
    evaluated = run("eval", "--models", "base", "v2", "--eval-set", small_set, "--index", sfip_index, "--base-model",
                    tiny_model_dir, "--split", "dev", "--max-new-tokens", "3", "--no-score", "--dtype", "float32")
    assert evaluated.exit_code == 0, evaluated.output
    comparison = json.loads((tmp_path / evaluated.stdout.strip()).with_name("comparison.json").read_text())
    assert set(comparison["metrics"]) == {"base", "v2"} and comparison["metrics"]["v2"]["greedy[max_new_tokens=3]"]["n_failed"] == 0
    assert comparison["models"]["v2"]["spec"]["adapter_dir"].endswith("adapters/v2")
    # v2 ran on the base model already loaded for `base`: its adapter was added, not the model reloaded.
    assert comparison["models"]["v2"]["backend_info"]["adapter"] == "v2"
    assert comparison["models"]["base"]["backend_info"]["adapter"] is None


@pytest.mark.parametrize("args,message", [
    (("--dataset", "nope", "--name", "x"), "unknown dataset 'nope'"),
    (("--dataset", "qa"), "give the adapter a name with --name"),
    (("--dataset", "qa", "--name", "x", "--quant", "4bit", "--device", "cpu"), "--quant 4bit needs a CUDA GPU"),
    (("--dataset", "qa", "--name", "x", "--preset", "fast", "--epochs", "0"), "give --epochs > 0 or --max-steps > 0"),
])
def test_train_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = run("train", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "models.json").exists() and not (tmp_path / "adapters").exists()


def test_train_file_errors(tmp_path, tiny_model_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}\n'
                   '{"prompt": "oops"}\n', encoding="utf-8")
    result = run("train", "--dataset", bad, "--name", "x", "--base-model", tiny_model_dir)
    assert result.exit_code == 2 and "bad.jsonl:2: 'prompt' must be a non-empty list" in result.stderr
    good = tmp_path / "good.jsonl"
    good.write_text(bad.read_text().splitlines()[0] + "\n", encoding="utf-8")
    result = run("train", "--dataset", good, "--name", "x", "--base-model", tiny_model_dir, "--max-length", "16")
    assert result.exit_code == 2 and "no training example left after dropping 1 longer than max_length" in result.stderr
    result = run("train", "--dataset", good, "--name", "x", "--base-model", tmp_path / "missing-model")
    assert result.exit_code == 2 and "base model" in result.stderr
    assert not (tmp_path / "models.json").exists()
    assert not (tmp_path / "adapters").exists() or not list((tmp_path / "adapters").iterdir())


def test_data_build_refuses_eval_splits(tmp_path, small_set):
    result = run("data", "build", "--dataset", "qa", "--eval-set", small_set, "--split", "test")
    assert result.exit_code == 2 and "'test' split is refused" in result.stderr
    assert not (tmp_path / "training").exists()
    result = run("data", "build", "--dataset", "rag", "--eval-set", small_set, "--index", "x", "--index", "y")
    assert result.exit_code == 2 and "give one --index, or one per --eval-set (1), got 2" in result.stderr
