"""The llamacpp backend (llama-cpp-python in process) on the bundled GGUF, and the peft LoRA ->
llama.cpp GGUF adapter conversion checked against transformers on the same adapter."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from harness.backends.base import GenRequest
from harness.config import DecodingConfig
from harness.models import ModelSpec
from tests.conftest import REPO
from tests.servers.llamacpp import require_llama_cpp

TEXT = "Under the Dwelling Form, the insurer pays for direct physical loss by or from flood to the insured property when"


def random_qk_adapter(path, layer: int = 3, scale: float = 0.2):
    """A LoRA on one layer's query and key projections, large enough that its effect on the
    logits stands well above llama.cpp's quantization noise."""
    from safetensors.numpy import load_file, save_file

    path.mkdir()
    shutil.copy(REPO / "adapters" / "v2" / "adapter_config.json", path)
    rng = np.random.default_rng(0)
    shipped = load_file(str(REPO / "adapters" / "v2" / "adapter_model.safetensors"))
    chosen = {k: (rng.standard_normal(v.shape) * scale).astype(np.float32) for k, v in shipped.items()
              if f".layers.{layer}.self_attn." in k and (".q_proj." in k or ".k_proj." in k)}
    save_file(chosen, str(path / "adapter_model.safetensors"))
    return path


def test_lora_conversion_follows_llama_cpp_query_key_layout(tmp_path, smollm_dir, monkeypatch):
    require_llama_cpp()
    import torch
    from llama_cpp import Llama

    from harness.backends import llamacpp
    from harness.backends.hf import load_causal_lm

    gguf = llamacpp.gguf_path("smollm2-135m")
    model, tokenizer, _, _ = load_causal_lm(str(smollm_dir), dtype="float32", device="cpu")
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    adapter = random_qk_adapter(tmp_path / "adapter")

    def cpp(lora=None):
        llm = Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, logits_all=True, n_ctx=256,
                    verbose=False, seed=0)
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)], dtype=np.float64)

    def hf(adapter_dir=None):
        m = load_causal_lm(str(smollm_dir), dtype="float32", device="cpu", adapter_dir=adapter_dir)[0]
        with torch.no_grad():
            return m(torch.tensor([ids])).logits[0].double().numpy()

    want = hf(str(adapter)) - hf()
    base = cpp()
    right = cpp(llamacpp.convert_lora(adapter, gguf, tmp_path / "right.gguf")) - base
    monkeypatch.setattr(llamacpp, "permute_rows", lambda w, *a: w)  # what a naive conversion would write
    naive = cpp(llamacpp.convert_lora(adapter, gguf, tmp_path / "naive.gguf")) - base

    def agreement(got):
        return np.corrcoef(got.ravel(), want.ravel())[0, 1]

    assert agreement(right) > 0.95  # the adapter moves llama.cpp's logits as it moves transformers'
    assert agreement(naive) < 0.7  # and the check can tell a wrong layout (measured: 0.99 vs 0.38)


def test_llamacpp_backend_answers_with_and_without_the_shipped_adapter(session_home):
    require_llama_cpp()
    from harness.backends.llamacpp import LlamaCppBackend

    request = GenRequest("a", [{"role": "user", "content": "What is a flood? One sentence."}],
                         decoding=DecodingConfig(max_new_tokens=24))
    base = LlamaCppBackend(ModelSpec("base", "smollm2-135m"))
    first, again = base.generate([request, request])
    assert first.text and first.text == again.text and first.prompt_tokens > 10 and first.error is None
    assert first.completion_tokens <= 24 and first.finish_reason in ("stop", "length")
    base.close()
    v2 = LlamaCppBackend(ModelSpec("v2", "smollm2-135m", adapter_dir=str(REPO / "adapters" / "v2")))
    assert v2.lora and v2.lora.is_file() and v2.generate([request])[0].text != first.text
    ident = LlamaCppBackend.identity(ModelSpec("v2", "smollm2-135m", adapter_dir=str(REPO / "adapters" / "v2")), None)
    assert ident["backend"] == "llamacpp" and ident["adapter"] and json.dumps(ident)
    v2.close()
