"""Shared fixtures. Every test runs offline with its own HARNESS_HOME; the bundled model is
converted once per session into a session folder and reused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS_DIR = REPO / "eval_sets" / "corpora" / "sfip"
STARTER = REPO / "eval_sets" / "sfip" / "starter.jsonl"
FORMS = ("sfip_dwelling", "sfip_general_property", "sfip_rcbap")

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("harness_home")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, session_home, tmp_path):
    monkeypatch.setenv("HARNESS_HOME", str(session_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from harness.backends.scripted import ScriptedBackend

    ScriptedBackend.pending.clear()
    yield


@pytest.fixture(scope="session")
def smollm_dir(session_home) -> Path:
    """The bundled SmolLM2-135M converted to safetensors (about 20 s, once per session)."""
    from harness.models import materialize_bundled

    return materialize_bundled("smollm2-135m", session_home)


@pytest.fixture(scope="session")
def tokenizer(smollm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm_dir)


def make_tiny_llama(tokenizer, seed: int = 0):
    """A random 2-layer Llama with the real SmolLM2 tokenizer's vocabulary (~1.6M parameters)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A tiny random Llama saved as a model folder, usable as --base-model."""
    out = tmp_path_factory.mktemp("tiny_llama")
    make_tiny_llama(tokenizer).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def sfip_index(tmp_path_factory) -> Path:
    """The index of the three flood-policy forms, built once per session."""
    from harness.config import IndexConfig
    from retrieval.index import build_index

    out = tmp_path_factory.mktemp("index") / "sfip"
    build_index(IndexConfig(corpus=(str(CORPUS_DIR),), out=str(out)))
    return out


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    for form in FORMS:
        shutil.copy(CORPUS_DIR / f"{form}.txt", d)
    return d
