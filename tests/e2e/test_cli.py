"""The CLI end to end: index -> eval, bad input, and the real small model on 3 questions."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from harness.backends.scripted import ScriptedBackend
from harness.cli import cli
from tests.conftest import STARTER
from tests.e2e.conftest import run

N_STARTER = sum(1 for line in STARTER.read_text(encoding="utf-8").splitlines() if line.strip())


pytestmark = pytest.mark.usefixtures("in_tmp")


def test_every_command_and_option_has_help():
    assert run("--help").exit_code == 0
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, result.output
        assert command.help and "Example usage" in command.help
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help and len(param.help) > 10, f"{name} {param.name} has no help"


def test_index_builds_then_is_a_no_op_until_the_corpus_changes(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "policy.md").write_text("# My Policy\n\n## I. Agreement\n\nA. We pay for flood.\n\nB. You pay premiums.\n", encoding="utf-8")
    out = tmp_path / "idx"
    first = run("index", "--corpus", corpus / "policy.md", "--out", out)
    assert first.exit_code == 0, first.output
    assert "index built: 2 chunks from 1 documents" in first.stdout  # the title, then article I
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_chunks"] == 2 and manifest["embedder"]["dim"] == 384
    assert manifest["dense"]["type"] == "flat" and manifest["bm25"]["library"] == "bm25s"
    chunks = [json.loads(line) for line in (out / "chunks.jsonl").read_text().splitlines()]
    source = (corpus / "policy.md").read_text(encoding="utf-8")
    assert all(source[c["start"]:c["end"]] == c["text"] for c in chunks)
    assert chunks[1]["metadata"]["breadcrumbs"] == "My Policy > I. Agreement"
    assert "up to date" in run("index", "--corpus", corpus / "policy.md", "--out", out).stdout
    (corpus / "policy.md").write_text(source + "\nC. New clause.\n", encoding="utf-8")
    assert "index built" in run("index", "--corpus", corpus / "policy.md", "--out", out).stdout
    # Other chunking settings make another index.
    assert "index built" in run("index", "--corpus", corpus / "policy.md", "--out", out, "--max-tokens", "64").stdout


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "corpus path not found"),
    (lambda d: (d / "missing.txt").write_text("\n \n", encoding="utf-8"), "missing.txt: corpus file is empty"),
])
def test_bad_corpus_exits_2_and_writes_nothing(tmp_path, setup, message):
    setup(tmp_path)
    result = run("index", "--corpus", tmp_path / "missing.txt", "--out", tmp_path / "idx")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "idx").exists()


def _results_state(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.rglob("*"))


def test_malformed_eval_line_exits_2_with_file_and_line_and_leaves_results_alone(tmp_path, sfip_index):
    lines = STARTER.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:2] + ['{"id": "x", "question": "no closing brace"'] + lines[2:]) + "\n", encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    (results / "README.md").write_text("runs land here\n")
    before = _results_state(results)
    result = run("eval", "--models", "base", "--eval-set", bad, "--index", sfip_index, "--results-dir", results,
                 "--backend", "scripted")
    assert result.exit_code == 2
    assert f"{bad}:3: invalid JSON" in result.stderr
    assert _results_state(results) == before


@pytest.mark.parametrize("args, message", [
    (["--models", "base", "v9"], "unknown model 'v9'"),
    (["--backend", "vllm"], "unknown backend 'vllm'"),
    (["--index", "nowhere"], "nowhere: not an index folder"),
    (["--k", "0"], "k must be >= 1"),
    (["--base-model", "./no/such/model"], "neither a bundled model"),
])
def test_other_bad_eval_input_exits_2(tmp_path, sfip_index, args, message):
    base = ["eval", "--eval-set", STARTER, "--index", sfip_index, "--results-dir", tmp_path / "results"]
    if "--backend" not in args and "--base-model" not in args:
        base += ["--backend", "scripted"]
    result = run(*base, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "results").exists()


def test_eval_with_scripted_backend_writes_items_and_comparison(tmp_path, sfip_index):
    (tmp_path / "models.json").write_text(json.dumps({"models": {"v1": {"base_model": "smollm2-135m"}}}))
    ScriptedBackend.pending.extend(["The policy does not say."] * 3)
    result = run("eval", "--models", "base", "v1", "--eval-set", STARTER, "--index", sfip_index,
                 "--results-dir", tmp_path / "results", "--backend", "scripted", "--k", "3")
    assert result.exit_code == 0, result.output
    md_path = Path(result.stdout.strip().splitlines()[-1])
    assert md_path.name == "comparison.md" and md_path.is_file()
    run_dir = md_path.parent
    items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 2 * N_STARTER and {it["model"] for it in items} == {"base", "v1"}
    by_model = {m: {it["item_id"]: it for it in items if it["model"] == m} for m in ("base", "v1")}
    assert set(by_model["base"]) == {json.loads(line)["id"] for line in STARTER.read_text().splitlines()}
    for item_id, it in by_model["base"].items():
        other = by_model["v1"][item_id]
        # Same retrieval and the same prompt for every model.
        assert [h["chunk_id"] for h in it["retrieved"]] == [h["chunk_id"] for h in other["retrieved"]]
        assert it["prompt_hash"] == other["prompt_hash"] and len(it["retrieved"]) == 3
        assert it["answer"] and it["error"] is None
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert comparison["schema_version"] == 2
    assert comparison["metrics"]["base"]["greedy"]["refused_exact"] == 3  # the three queued refusals
    assert comparison["metrics"]["v1"]["greedy"]["refused_exact"] == 0
    assert comparison["metrics"]["base"]["greedy"]["n"] == N_STARTER and comparison["eval_set"]["n"] == N_STARTER
    assert comparison["config"]["k"] == 3 and (run_dir / "experiment.yaml").is_file()
    answerable = sum(1 for line in STARTER.read_text().splitlines() if '"answerable": true' in line)
    retrieval = comparison["retrieval"]
    assert retrieval["k"] == 3 and retrieval["n"] == answerable and 0 <= retrieval["hit_at_k"] <= 1
    assert set(retrieval["by_category"]) >= {"numeric_limit", "time_period"}
    assert "Retrieval (hybrid, the same for every model): hit@3" in md_path.read_text()
    # Every answer is scored: the grid accounts for every item, the queued refusals among them.
    base = comparison["metrics"]["base"]["greedy"]
    grid = base["refusal_grid"]
    assert sum(grid.values()) == N_STARTER and grid["correct_refusal"] + grid["needless_refusal"] == 3
    unanswerable = N_STARTER - answerable
    assert grid["correct_refusal"] + grid["answered_unanswerable"] == unanswerable
    assert base["hallucination_rate"]["n"] == N_STARTER and "numeric_limit" in base["by_category"]
    scored_item = next(it for it in items if it["model"] == "base" and it["answerable"] and it["grid"] != "needless_refusal")
    assert {"verdict", "score", "spans", "claims", "grid", "hallucinated", "correctness"} <= set(scored_item)
    assert "## Hallucination" in md_path.read_text()
    assert f"| base | {N_STARTER} | 0 | {N_STARTER - 3} | 3 |" in md_path.read_text()
    assert f"{2 * N_STARTER} generated, 0 from cache" in result.stderr


def test_eval_with_a_tiny_model_folder(tmp_path, sfip_index, tiny_model_dir):
    result = run("eval", "--models", "base", "--base-model", tiny_model_dir, "--eval-set", STARTER, "--index", sfip_index,
                 "--results-dir", tmp_path / "results", "--limit", "4", "--max-new-tokens", "4", "--dtype", "float32",
                 "--batch-size", "3", "--no-score")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
    assert len(items) == 4
    assert all(it["completion_tokens"] >= 1 and it["prompt_tokens"] > 100 for it in items)
    assert sorted(it["batch_size"] for it in items) == [1, 3, 3, 3]
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert comparison["models"]["base"]["backend_info"]["dtype"] == "float32"
    # A flag that changes the preset shows in the cell's name.
    assert list(comparison["cells"]) == ["greedy[max_new_tokens=4]"]
    assert comparison["metrics"]["base"]["greedy[max_new_tokens=4]"]["tokens_per_s"] > 0
    assert "hallucination_rate" not in comparison["metrics"]["base"]["greedy[max_new_tokens=4]"] and "grid" not in items[0]
    assert "was not scored (--no-score)" in (run_dir / "comparison.md").read_text()


def test_a_model_that_fails_to_load_is_recorded_as_failed(tmp_path, sfip_index, tiny_model_dir):
    empty_adapter = tmp_path / "adapter"
    empty_adapter.mkdir()
    (tmp_path / "models.json").write_text(json.dumps({"models": {"broken": {
        "base_model": str(tiny_model_dir), "adapter_dir": str(empty_adapter)}}}))
    refused = run("eval", "--models", "broken", "--eval-set", STARTER, "--index", sfip_index, "--limit", "3")
    assert refused.exit_code == 2 and "no adapter_model.safetensors in the adapter folder" in refused.stderr
    # weights that pass the up-front checks but cannot be loaded: recorded per item, the run goes on
    (empty_adapter / "adapter_model.safetensors").write_bytes(b"not safetensors")
    result = run("eval", "--models", "broken", "--eval-set", STARTER, "--index", sfip_index,
                 "--results-dir", tmp_path / "results", "--limit", "3", "--dtype", "float32")
    # Every answer failed: all recorded, and the command says so in one line and exits 1.
    assert result.exit_code == 1, result.output
    assert "3 item(s) failed" in result.stderr
    assert "Error: every answer failed (" in result.stderr and "harness eval --resume" in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
    assert len(items) == 3 and all(it["error"] and it["finish_reason"] == "error" for it in items)
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert comparison["metrics"]["broken"]["greedy"]["n_failed"] == 3
    assert "broken failed to load" in (run_dir / "comparison.md").read_text()


@pytest.mark.slow
def test_real_small_model_answers_three_questions(tmp_path, sfip_index, smollm_dir):
    result = run("eval", "--models", "base", "--eval-set", STARTER, "--index", sfip_index,
                 "--results-dir", tmp_path / "results", "--limit", "3", "--max-new-tokens", "48")
    assert result.exit_code == 0, result.output
    md_path = Path(result.stdout.strip().splitlines()[-1])
    assert "| base | 3 | 0 |" in md_path.read_text()
    items = [json.loads(line) for line in (md_path.parent / "items.jsonl").read_text().splitlines()]
    assert len(items) == 3 and all(it["answer"] and it["completion_tokens"] > 0 for it in items)
    info = json.loads((md_path.parent / "comparison.json").read_text())["models"]["base"]["backend_info"]
    assert info["resolved_path"] == str(smollm_dir) and info["eos_token"] == "<|im_end|>"
