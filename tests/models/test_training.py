"""LoRA training on the tiny random Llama with the real SmolLM2 tokenizer: labels, EOS, pad,
what a step changes, the registry, interrupted runs and --resume."""

from __future__ import annotations

import json
import os

import pytest

from harness.errors import HarnessError
from harness.models import ADAPTER_MANIFEST, check_adapter, get_model, load_model_registry, register_model
from harness.prompts import REFUSAL, Clause, build_messages, render_prompt
from training.config import TrainConfig
from training.data import qa_example, rag_example, tokenize_example
from training.train import load_train_config, pick_pad_token, split_by_question, train


def _rag(question="How long do I have to file a proof of loss?", answer="Within 60 days.", qid="q1"):
    ex = rag_example(question, [Clause("J. You must send us a proof of loss within 60 days.", "Dwelling Form > VII. > J.")],
                     answer)
    return {**ex, "meta": {"question_id": qid, "source": "s", "language": "en", "kind": "grounded"}}


def test_prompt_tokens_are_masked_and_the_answer_ends_in_eos(tokenizer):
    ex = _rag()
    row = tokenize_example(ex, tokenizer)
    prompt_ids = tokenizer(render_prompt(ex["prompt"], tokenizer), add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert row["input_ids"][:n] == prompt_ids  # exactly the tokens `harness eval` feeds the model
    assert row["labels"][:n] == [-100] * n
    assert all(t != -100 for t in row["labels"][n:])
    assert row["labels"][n:] == row["input_ids"][n:]
    assert tokenizer.decode(row["input_ids"][n:-1]) == "Within 60 days."
    assert row["labels"][-1] == tokenizer.eos_token_id == row["input_ids"][-1]
    # a refusal is trained the same way, in Korean too
    ko = rag_example("보험금은?", [Clause("제1조 ...", "약관 > 제1조")], None, "ko")
    row = tokenize_example(ko, tokenizer, "ko")
    labelled = [t for t in row["labels"] if t != -100]
    assert tokenizer.decode(labelled[:-1]) == REFUSAL["ko"] and labelled[-1] == tokenizer.eos_token_id


def test_pad_is_never_the_eos(tokenizer):
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # the bundled model's trap
    pad = pick_pad_token(tokenizer)
    assert pad in tokenizer.get_vocab() and tokenizer.convert_tokens_to_ids(pad) != tokenizer.eos_token_id


def test_split_keeps_a_questions_variants_together():
    examples = [_rag(qid=f"q{i // 2}") for i in range(20)]  # 10 questions, 2 variants each
    train_idx, eval_idx = split_by_question(examples, 0.2, seed=0)
    assert len(eval_idx) == 4 and sorted(train_idx + eval_idx) == list(range(20))
    held = {examples[i]["meta"]["question_id"] for i in eval_idx}
    assert not held & {examples[i]["meta"]["question_id"] for i in train_idx}


def test_presets_sit_between_defaults_and_yaml_and_flags(tmp_path):
    assert load_train_config(None, {}).epochs == 1.0
    assert load_train_config(None, {"preset": "quality"}).lora.target_modules == ("all-linear",)
    y = tmp_path / "t.yaml"
    y.write_text("preset: balanced\nlearning_rate: 0.001\nlora:\n  r: 8\n", encoding="utf-8")
    cfg = load_train_config(y, {"learning_rate": 0.003})
    assert (cfg.preset, cfg.epochs, cfg.learning_rate, cfg.lora.r, cfg.lora.alpha) == ("balanced", 2.0, 0.003, 8, 32)
    y.write_text("lora:\n  rank: 8\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"t.yaml:2: unknown key 'lora.rank'"):
        load_train_config(y, {})


def _write(path, examples):
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    return path


def _cfg(tmp_path, base, **kw):
    defaults = dict(dataset=str(tmp_path / "train.jsonl"), name="t1", base_model=str(base), max_steps=2, grad_accum=2,
                    eval_fraction=0.0, dtype="float32", device="cpu", adapters_dir=str(tmp_path / "adapters"),
                    learning_rate=5e-3, eval_steps=1)
    defaults.update(kw)
    return TrainConfig(**defaults)


@pytest.fixture
def train_file(tmp_path):
    examples = [_rag(f"Question number {i}?", f"Answer {i}.", f"q{i}") for i in range(6)]
    examples += [{**qa_example("What is a flood?", "A general and temporary condition."),
                  "meta": {"question_id": "qa1", "source": "s", "language": "en"}}]
    return _write(tmp_path / "train.jsonl", examples)


def test_a_lora_step_changes_the_adapter_and_nothing_else(tmp_path, tiny_model_dir, train_file):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    registry = tmp_path / "models.json"
    result = train(_cfg(tmp_path, tiny_model_dir), registry_path=registry)
    adapter = result.adapter_dir
    assert (adapter / "adapter_model.safetensors").is_file() and not list(adapter.glob("*.bin"))
    weights = load_file(adapter / "adapter_model.safetensors")
    assert weights and all("lora_" in k for k in weights)
    # LoRA B starts at zero: a step that trained it leaves it non-zero
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)
    # the base weights on disk are untouched, and the merged model differs from the base only through LoRA
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    fresh = load_file(tiny_model_dir / "model.safetensors")
    for k, v in base.state_dict().items():
        if k in fresh:
            assert torch.equal(v, fresh[k])
    from peft import PeftModel

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter).merge_and_unload()
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, base.state_dict()[k])}
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    # provenance and registration
    manifest = json.loads((adapter / ADAPTER_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["base_model"]["name"] == str(tiny_model_dir) and manifest["base_model"]["weights_digest"]
    assert manifest["base_model"]["pad_token"] != manifest["base_model"]["eos_token"] == "<|im_end|>"
    assert manifest["dataset"]["sha256"] and manifest["config"]["lora"]["r"] == 16
    stats = json.loads((adapter / "training_stats.json").read_text(encoding="utf-8"))
    assert stats["steps"] == 2 and len(stats["losses"]) == 2 and stats["tokens_per_second"] > 0
    assert (adapter / "loss_log.jsonl").read_text(encoding="utf-8").count("\n") >= 2
    spec = get_model("t1", "ignored", registry)
    assert spec.base_model == str(tiny_model_dir) and spec.adapter_dir == str(adapter)
    assert not list((tmp_path / "adapters").glob(".*"))  # no partial or temp folder left behind


def test_training_loss_goes_down(tmp_path, tiny_model_dir, train_file):
    result = train(_cfg(tmp_path, tiny_model_dir, max_steps=12, grad_accum=1, learning_rate=2e-2),
                   registry_path=tmp_path / "models.json")
    losses = [x["loss"] for x in result.stats["losses"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_registry_refuses_a_taken_name_and_writes_atomically(tmp_path):
    registry = tmp_path / "models.json"
    register_model("v1", {"base_model": "smollm2-135m", "adapter_dir": str(tmp_path / "adapters" / "v1")}, registry)
    with pytest.raises(HarnessError, match="'v1' is already registered"):
        register_model("v1", {"base_model": "x"}, registry)
    register_model("v1", {"base_model": "y"}, registry, overwrite=True)
    register_model("v2", {"base_model": "y"}, registry)
    assert sorted(load_model_registry(registry)) == ["v1", "v2"]
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["models.json"]
    with pytest.raises(HarnessError, match="not allowed"):
        register_model("base", {}, registry)


def test_mismatched_or_pickled_adapters_are_refused(tmp_path, tiny_model_dir, caplog):
    adapter = tmp_path / "a"
    adapter.mkdir()
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(HarnessError, match=r"pickle \(.bin\)"):
        check_adapter(adapter, "smollm2-135m")
    (adapter / "adapter_model.bin").unlink()
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    (adapter / ADAPTER_MANIFEST).write_text(json.dumps({"base_model": {"name": "other/model", "weights_digest": "abc"}}))
    with pytest.raises(HarnessError, match="trained on base model 'other/model', not 'smollm2-135m'"):
        check_adapter(adapter, "smollm2-135m")
    import logging

    with caplog.at_level(logging.WARNING, logger="harness.models"):
        assert check_adapter(adapter, "other/model", base_digest="def")["base_model"]["name"] == "other/model"
    assert "with digest abc, these have def" in caplog.text
    registry = tmp_path / "models.json"
    register_model("v9", {"base_model": "smollm2-135m", "adapter_dir": str(adapter)}, registry)
    with pytest.raises(HarnessError, match="trained on base model 'other/model'"):
        get_model("v9", "smollm2-135m", registry)


def test_interrupted_run_registers_nothing_and_resume_finishes(tmp_path, tiny_model_dir, train_file, monkeypatch):
    import training.train as tt

    registry = tmp_path / "models.json"
    cfg = _cfg(tmp_path, tiny_model_dir, max_steps=4, grad_accum=1, eval_steps=2)
    original = tt._trainer_class

    def crashing_class():
        cls = original()

        class Crashing(cls):
            def training_step(self, *a, **kw):
                if self.state.global_step >= 3:
                    raise KeyboardInterrupt("killed")
                return super().training_step(*a, **kw)

        return Crashing

    monkeypatch.setattr(tt, "_trainer_class", crashing_class)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, registry_path=registry)
    assert not registry.exists() and not (tmp_path / "adapters" / "t1").exists()
    partial = tmp_path / "adapters" / ".t1.partial"
    assert (partial / "checkpoints" / "checkpoint-2").is_dir()
    monkeypatch.setattr(tt, "_trainer_class", original)
    result = train(cfg, registry_path=registry, resume=True)
    assert result.stats["steps"] == 4 and "t1" in load_model_registry(registry)
    assert [x["step"] for x in result.stats["losses"]] == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint
    assert not partial.exists()


def test_resume_without_checkpoint_and_taken_name_are_refused(tmp_path, tiny_model_dir, train_file):
    registry = tmp_path / "models.json"
    with pytest.raises(HarnessError, match="nothing to resume"):
        train(_cfg(tmp_path, tiny_model_dir), registry_path=registry, resume=True)
    register_model("t1", {"base_model": "x"}, registry)
    with pytest.raises(HarnessError, match="already registered"):
        train(_cfg(tmp_path, tiny_model_dir), registry_path=registry)


def test_eval_loads_the_trained_adapter(tmp_path, tiny_model_dir, train_file):
    from harness.backends.base import BackendOptions, GenRequest
    from harness.backends.hf import HFBackend
    from harness.config import DecodingConfig

    registry = tmp_path / "models.json"
    train(_cfg(tmp_path, tiny_model_dir), registry_path=registry)
    spec = get_model("t1", "ignored", registry)
    HFBackend.prepare(spec)  # the weights digest matches
    backend = HFBackend(spec, BackendOptions(dtype="float32", device="cpu"))
    assert type(backend.model).__name__ == "PeftModelForCausalLM"
    gen = backend.generate([GenRequest("q", build_messages("What?", [Clause("A.", "F > I.")]),
                                       decoding=DecodingConfig(max_new_tokens=3))])[0]
    assert gen.error is None and gen.completion_tokens >= 1


def test_dataset_by_kind_is_built_and_kept_with_the_adapter(tmp_path, tiny_model_dir, monkeypatch):
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)  # the default question sets are paths relative to the checkout
    cfg = _cfg(tmp_path, tiny_model_dir, dataset="qa", max_steps=1, grad_accum=1)
    result = train(cfg, registry_path=tmp_path / "models.json")
    manifest = json.loads((result.adapter_dir / ADAPTER_MANIFEST).read_text(encoding="utf-8"))
    kept = result.adapter_dir / "train_data.jsonl"
    assert manifest["dataset"]["kind"] == "qa" and manifest["dataset"]["path"].startswith("train_data.jsonl")
    from harness.io import sha256_file

    assert sha256_file(kept) == manifest["dataset"]["sha256"]
    from harness.eval_set import load_eval_set

    # qa: one example per answerable train question of the shipped sets (96 English ones).
    expected = {lang: sum(1 for it in load_eval_set(f"eval_sets/{name}/questions.jsonl")
                          if it.split == "train" and it.answerable) for lang, name in (("en", "sfip"), ("ko", "sfip_ko"))}
    assert expected["en"] == 96 and expected["ko"] >= 50
    assert manifest["dataset"]["stats"]["by_language"] == expected


def test_training_logs_to_a_real_local_mlflow_store(tmp_path, tiny_model_dir, train_file, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'rag-harness[mlflow]')")
    monkeypatch.chdir(tmp_path)
    # Training sets MLFLOW_TRACKING_URI for transformers' callback; setenv first so teardown removes it.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unset")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "harness-train-test")
    train(_cfg(tmp_path, tiny_model_dir, max_steps=3, grad_accum=1, track="mlflow"), registry_path=tmp_path / "models.json")
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()  # the local store, when no URI is set
    client = mlflow.tracking.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("harness-train-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert len(history) == 3 and all(h.value > 0 for h in history)
    assert runs[0].data.params["learning_rate"] == "0.005"
