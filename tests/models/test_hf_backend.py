from __future__ import annotations

import json

import pytest

from harness.backends.base import BackendOptions, GenRequest
from harness.backends.hf import HFBackend
from harness.config import DecodingConfig
from harness.errors import HarnessError
from harness.models import ModelSpec, get_model, resolve_base_model
from harness.prompts import Clause, build_messages

FP32 = BackendOptions(dtype="float32", device="cpu", prefill_dtype="same")
# What `harness eval` uses on a CPU with bf16 (this machine's, when it has it): prompts read in
# bf16 autocast one at a time, answers decoded in float32.
BF16_PREFILL = BackendOptions(dtype="float32", device="cpu", prefill_dtype="bfloat16")


def _requests(n: int, max_new_tokens: int = 6) -> list[GenRequest]:
    questions = ["What is a flood?", "How long do I have to send a proof of loss after the flood?",
                 "Is mold covered?", "What does the deductible mean for a building under construction?"]
    return [GenRequest(f"q{i}", build_messages(questions[i % 4], [Clause("A. Some clause text.", "Form > I.")]),
                       decoding=DecodingConfig(max_new_tokens=max_new_tokens)) for i in range(n)]


def test_batch_answers_equal_single_answers_and_keep_order(tiny_model_dir):
    backend = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32)
    reqs = _requests(4)
    batched = backend.generate(reqs)
    singles = [backend.generate([r])[0] for r in reqs]
    assert [g.text for g in batched] == [g.text for g in singles]  # left padding does not change greedy output
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in singles]
    assert len({g.prompt_tokens for g in batched}) > 1
    for g in batched:
        assert g.finish_reason == "length" and g.completion_tokens == 6 and g.batch_size == 4 and g.error is None
    info = backend.info()
    assert info["eos_token"] == "<|im_end|>" and info["dtype"] == "float32" and info["chat_template_sha"]
    backend.close()


def test_answer_ends_at_eos(tiny_model_dir):
    import torch

    backend = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32)
    eos = backend.tokenizer.eos_token_id
    head = torch.nn.Linear(backend.model.config.hidden_size, backend.model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[eos] = 100.0  # every step's argmax is EOS
    backend.model.lm_head = head
    gens = backend.generate(_requests(2))
    assert [(g.text, g.completion_tokens, g.finish_reason) for g in gens] == [("", 1, "stop")] * 2


def test_failed_request_is_recorded_not_dropped(tiny_model_dir, monkeypatch):
    backend = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32)

    def boom(requests):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend, "_generate_batch", boom)
    gens = backend.generate(_requests(3))
    assert len(gens) == 3
    assert all(g.finish_reason == "error" and "out of memory" in g.error for g in gens)


def test_lora_adapter_from_models_json_changes_answers(tiny_model_dir, tmp_path, tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 5.0)  # LoRA starts as a no-op; make it matter
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    assert (adapter / "adapter_model.safetensors").is_file()
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps({"models": {"v1": {"base_model": str(tiny_model_dir), "adapter_dir": str(adapter)}}}))

    spec = get_model("v1", "ignored", registry)
    assert spec.adapter_dir == str(adapter)
    reqs = _requests(2, max_new_tokens=8)
    base = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32).generate(reqs)
    tuned = HFBackend(spec, FP32).generate(reqs)
    assert [g.text for g in base] != [g.text for g in tuned]


def test_model_names(tmp_path):
    with pytest.raises(HarnessError, match="unknown model 'v3' \\(did you mean 'v1'\\?\\); known: base, v1"):
        registry = tmp_path / "models.json"
        registry.write_text(json.dumps({"models": {"v1": {"base_model": "x"}}}))
        get_model("v3", "smollm2-135m", registry)
    assert get_model("base", "org/model").base_model == "org/model"
    assert resolve_base_model("org/model") == "org/model"  # a hub id is passed through
    with pytest.raises(HarnessError, match="neither a bundled model"):
        resolve_base_model("./no/such/folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no config.json"):
        resolve_base_model(str(tmp_path / "empty"))


def test_bundled_model_is_converted_once_to_safetensors(smollm_dir, session_home):
    from harness.models import materialize_bundled

    assert (smollm_dir / "model.safetensors").is_file()
    assert not list(smollm_dir.glob("*.gguf"))
    config = json.loads((smollm_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert materialize_bundled("smollm2-135m", session_home) == smollm_dir  # reused, not converted again


def _adapter(tmp_path, tiny_model_dir, name, seed):
    """A LoRA adapter with random (non-zero) weights, so it visibly changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                                            init_lora_weights=False))
    out = tmp_path / name
    peft.save_pretrained(out, safe_serialization=True)
    return ModelSpec(name, str(tiny_model_dir), adapter_dir=str(out))


def test_switching_adapters_on_one_base_equals_loading_each(tmp_path, tiny_model_dir):
    specs = [ModelSpec("base", str(tiny_model_dir)), _adapter(tmp_path, tiny_model_dir, "a1", 1),
             _adapter(tmp_path, tiny_model_dir, "a2", 2)]
    reqs = _requests(3, max_new_tokens=8)
    fresh = {}
    for spec in specs:
        backend = HFBackend(spec, FP32)
        fresh[spec.name] = [g.text for g in backend.generate(reqs)]
        backend.close()
    assert fresh["a1"] != fresh["base"] and fresh["a2"] != fresh["a1"]  # the adapters do change answers
    backend = HFBackend(specs[0], FP32)
    for spec in [specs[1], specs[2], specs[0], specs[1]]:
        assert backend.switch(spec)
        assert [g.text for g in backend.generate(reqs)] == fresh[spec.name], spec.name
        assert backend.info()["adapter"] == (None if spec.name == "base" else spec.name)
    assert not backend.switch(ModelSpec("other", "smollm2-135m"))  # another base cannot be switched to
    backend.close()


def test_sampled_answers_depend_only_on_their_own_seed(tiny_model_dir):
    backend = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32)
    sampling = DecodingConfig(max_new_tokens=8, do_sample=True, temperature=1.0, top_p=0.95, top_k=50)
    reqs = [GenRequest(r.request_id, r.messages, decoding=sampling, seed=100 + i) for i, r in enumerate(_requests(4))]
    batched = [g.text for g in backend.generate(reqs)]
    singles = [backend.generate([r])[0].text for r in reversed(reqs)][::-1]
    assert batched == singles  # neither the batch nor the order changes a sampled answer
    reseeded = [GenRequest(r.request_id, r.messages, decoding=sampling, seed=r.seed + 1000) for r in reqs]
    assert [g.text for g in backend.generate(reseeded)] != batched  # the seed does
    greedy = [g.text for g in backend.generate(_requests(4, max_new_tokens=8))]
    assert greedy != batched
    backend.close()


def test_stop_strings_end_generation(tiny_model_dir):
    backend = HFBackend(ModelSpec("base", str(tiny_model_dir)), FP32)
    sampling = DecodingConfig(max_new_tokens=24, do_sample=True, temperature=1.0)  # greedy repeats newlines here
    req = GenRequest("q", _requests(1)[0].messages, decoding=sampling, seed=7)
    full = backend.generate([req])[0]
    # A word from the middle of the (random) answer.
    words = [w for w in full.text.split() if w.isascii() and len(w) > 3]
    assert words, full.text
    stop = words[len(words) // 2]
    assert full.text.index(stop) > 0
    stopped = backend.generate([GenRequest("q", req.messages, decoding=sampling, seed=7, stop_strings=(stop,))])[0]
    assert stopped.finish_reason == "stop_string" and stopped.text.endswith(stop)
    assert full.text.startswith(stopped.text) and len(stopped.text) < len(full.text)
    backend.close()


def _varied_model_dir(tmp_path, tokenizer):
    """A random model with larger weights, so its answers vary from row to row."""
    import torch

    from tests.conftest import make_tiny_llama

    model = make_tiny_llama(tokenizer, seed=1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)
    model.save_pretrained(tmp_path, safe_serialization=True)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_finished_rows_leaving_the_batch_changes_no_token(tmp_path, tokenizer):
    backend = HFBackend(ModelSpec("base", str(_varied_model_dir(tmp_path, tokenizer))), FP32)
    reqs = _requests(6, max_new_tokens=12)
    # Make rows end at different steps: a token the model emits early in some answers but not
    # in all becomes an end-of-answer token.
    texts = [backend.tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True) for r in reqs]
    enc = backend.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = backend._decode_shrinking(dict(enc), DecodingConfig(max_new_tokens=12), [0] * 6)
    early = next(t for row in ids for t in row[1:6] if sum(t in r for r in ids) < len(ids))
    backend.stop_ids = sorted(set(backend.stop_ids) | {early})
    sampled = dict(do_sample=True, temperature=0.9, top_p=0.9)
    for decoding in (dict(repetition_penalty=1.0), dict(repetition_penalty=1.3), sampled, sampled | {"top_k": 20}):
        reqs = [GenRequest(r.request_id, r.messages, decoding=DecodingConfig(max_new_tokens=12, **decoding), seed=i)
                for i, r in enumerate(_requests(6))]
        for alone in (False, True):  # prompts read as one padded batch, or one at a time
            backend.shrinking = False
            slow = backend.generate(reqs)
            backend.shrinking, backend.prefill_alone = True, alone
            fast = backend.generate(reqs)
            assert [(g.text, g.completion_tokens, g.finish_reason) for g in fast] == \
                [(g.text, g.completion_tokens, g.finish_reason) for g in slow], (decoding, alone)
            assert len({g.completion_tokens for g in fast}) > 1  # rows did end at different steps
    backend.close()


def test_answers_with_prompts_read_in_bf16_do_not_depend_on_the_batch(tmp_path, tokenizer):
    folder = str(_varied_model_dir(tmp_path, tokenizer))
    backend = HFBackend(ModelSpec("base", folder), BF16_PREFILL)
    assert backend.info()["prefill_dtype"] == "bfloat16" and backend.info()["dtype"] == "float32"
    for decoding in (DecodingConfig(max_new_tokens=10), DecodingConfig(max_new_tokens=10, do_sample=True)):
        reqs = [GenRequest(r.request_id, r.messages, decoding=decoding, seed=i) for i, r in enumerate(_requests(6))]
        batch6 = [g.text for g in backend.generate(reqs)]
        singles = [backend.generate([r])[0].text for r in reqs]
        pairs = [g.text for at in (0, 2, 4) for g in backend.generate(reqs[at:at + 2])]
        order = [4, 1, 5, 0, 3, 2]
        shuffled = {order[j]: g.text for j, g in enumerate(backend.generate([reqs[i] for i in order]))}
        assert batch6 == singles == pairs == [shuffled[i] for i in range(6)], decoding
    # Reading prompts in bf16 changes the numbers, so it is part of the cache key.
    assert HFBackend.identity(ModelSpec("base", folder), BF16_PREFILL)["prefill_dtype"] == "bfloat16"
    assert "prefill_dtype" not in HFBackend.identity(ModelSpec("base", folder), FP32)
    backend.close()
