"""transformers backend: any causal LM folder or hub id, optional LoRA adapter, optional 4-bit.

Safetensors only and `trust_remote_code` off. Batches are left-padded; answers end at the
first EOS (or any of the model's end-of-turn ids) and are decoded without special tokens.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import time
from typing import Any, Sequence

from harness.backends.base import BackendOptions, GenRequest, Generation
from harness.errors import HarnessError
from harness.io import sha256_file
from harness.models import ADAPTER_WEIGHTS, ModelSpec, check_adapter, resolve_base_model, weights_digest
from harness.prompts import render_prompt

log = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        # Under `accelerate launch` / torchrun each process takes its own GPU.
        return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    """auto: bf16 where it is fast (CPU, recent GPUs), fp16 on GPUs without bf16."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.bfloat16


def load_causal_lm(base_model: str, *, dtype: str = "auto", device: str = "auto", load_in_4bit: bool = False,
                   load_in_8bit: bool = False, adapter_dir: str | None = None):
    """(model, tokenizer, resolved path, device) with our loading rules; also used by training."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_base_model(base_model)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "use_safetensors": True, "trust_remote_code": False}
    quantized = load_in_4bit or load_in_8bit
    if quantized:
        from transformers import BitsAndBytesConfig

        if load_in_4bit:
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch_dtype)
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        # Under `accelerate launch` each process loads its copy onto its own GPU.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))} if device.startswith("cuda") else {"": device}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise HarnessError(f"cannot load model {base_model!r} from {path}: {str(e).splitlines()[0]}") from None
    if not quantized:
        model.to(device)
    if adapter_dir:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    model.eval()
    return model, tokenizer, path, device


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


def sample_tokens(logits, decoding, generators):
    """One token per row, drawn with that row's own torch.Generator after temperature, top-k and
    top-p. With the global RNG an answer would depend on the other rows in its batch; with one
    generator per request it depends only on its own seed, and a resumed or re-batched run
    samples the same answers."""
    import torch

    logits = logits.float() / decoding.temperature
    if decoding.top_k and decoding.top_k < logits.shape[-1]:
        kth = torch.topk(logits, decoding.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if decoding.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True, dim=-1)
        # Keep the smallest set of likeliest tokens whose mass reaches top_p (at least one).
        drop = (sorted_p.cumsum(-1) - sorted_p) >= decoding.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.cat([torch.multinomial(probs[row], 1, generator=g) for row, g in enumerate(generators)])


def row_generators(seeds: Sequence[int], device) -> list:
    import torch

    generators = []
    for seed in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        generators.append(g)
    return generators


def seeded_sampler(decoding, seeds: Sequence[int]):
    """sample_tokens as a logits processor for generate(): it leaves only the drawn token
    standing, so greedy search then picks it."""
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generators: list = []

        def __call__(self, input_ids, scores):
            if not self.generators:
                self.generators = row_generators(seeds, scores.device)
            tokens = sample_tokens(scores, decoding, self.generators)
            out = torch.full_like(scores, float("-inf"))
            out[torch.arange(len(tokens)), tokens] = 0.0
            return out

    return SeededSampler()


def cache_arg(model, cache) -> dict:
    """The KV cache as the model's forward wants it: `cache` in newer transformers 5.x releases
    (`past_key_values` is deprecated there and removed in 5.40), `past_key_values` in older ones."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under a peft wrapper
    return {_cache_kwarg(type(base)): cache}


_CACHE_KWARGS: dict[type, str] = {}


def _cache_kwarg(cls: type) -> str:
    if cls not in _CACHE_KWARGS:
        import inspect

        _CACHE_KWARGS[cls] = "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"
    return _CACHE_KWARGS[cls]


def prefill_dtype(options, device: str) -> str:
    """The dtype prompts are read in. `auto`: bfloat16 autocast for a float32 model on a CPU with
    native bf16 (AVX512-BF16 / AMX), where reading a prompt is ~2x faster (1,300 tokens: 2.16 s
    -> 1.17 s on a 2-core Xeon with AMX); each prompt is read alone, so its answer still does
    not depend on its batch, and answers are then decoded in float32. Otherwise "same": the
    model's own dtype. Recorded in the cache key: it changes answers."""
    choice = getattr(options, "prefill_dtype", "auto")
    if choice != "auto":
        return choice
    if device != "cpu" or options.dtype != "float32" or options.load_in_4bit:
        return "same"
    import torch

    bf16 = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return "bfloat16" if bf16 is not None and bf16() else "same"


class HFBackend:
    name = "hf"

    def __init__(self, spec: ModelSpec, options: BackendOptions | None = None):
        options = options or BackendOptions()
        self.spec = spec
        self.options = options
        self.model, self.tokenizer, self.path, self.device = load_causal_lm(
            spec.base_model, dtype=options.dtype, device=options.device, load_in_4bit=options.load_in_4bit,
            adapter_dir=spec.adapter_dir)
        self.tokenizer.padding_side = "left"
        # Generation only needs *a* pad id (attention masks hide it); training is stricter.
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.stop_ids = self._stop_ids()
        self.adapters: set[str] = {spec.name} if spec.adapter_dir else set()
        # Finished rows leave the batch (greedy decoding); HARNESS_HF_SHRINK=0 uses generate() throughout.
        self.shrinking = os.environ.get("HARNESS_HF_SHRINK", "1") != "0"
        # On a CPU each prompt is read alone (no padding computed, and its cache owes nothing to
        # its neighbours), in bf16 where the CPU has it; on a GPU one padded batch is faster.
        self.prefill_dtype = prefill_dtype(options, self.device)
        self.prefill_alone = self.device == "cpu"
        self.active_adapter: str | None = spec.name if spec.adapter_dir else None

    @staticmethod
    def identity(spec: ModelSpec, options: BackendOptions) -> dict[str, Any]:
        """What makes this model's answers what they are, without loading it: the base weights,
        tokenizer and chat template, the adapter weights, dtype and quantization."""
        path = resolve_base_model(spec.base_model)
        folder = os.path.isdir(path)
        tokenizer = {f: sha256_file(os.path.join(path, f))[:16] for f in TOKENIZER_FILES
                     if folder and os.path.isfile(os.path.join(path, f))}
        adapter = None
        if spec.adapter_dir:
            adapter = sha256_file(os.path.join(spec.adapter_dir, ADAPTER_WEIGHTS))[:32]
        identity = {"backend": "hf", "base": weights_digest(path) if folder else spec.base_model,
                    "tokenizer": tokenizer, "adapter": adapter, "dtype": options.dtype,
                    "load_in_4bit": options.load_in_4bit}
        prefill = prefill_dtype(options, pick_device(options.device))
        if prefill != "same":
            identity["prefill_dtype"] = prefill  # only when set, so earlier cache keys stay valid
        return identity

    def switch(self, spec: ModelSpec) -> bool:
        """Answer as `spec` on the already loaded base: LoRA adapters are loaded next to each
        other (peft load_adapter / set_adapter) and the base alone is the adapters disabled."""
        if spec.base_model != self.spec.base_model or self.options.load_in_4bit:
            return False
        if spec.adapter_dir:
            from peft import PeftModel

            if not isinstance(self.model, PeftModel):
                self.model = PeftModel.from_pretrained(self.model, spec.adapter_dir, adapter_name=spec.name,
                                                       is_trainable=False)
            elif spec.name not in self.adapters:
                self.model.load_adapter(spec.adapter_dir, adapter_name=spec.name, is_trainable=False)
            self.model.set_adapter(spec.name)
            self.model.eval()
            self.adapters.add(spec.name)
            self.active_adapter = spec.name
        else:
            self.active_adapter = None
        self.spec = spec
        return True

    @staticmethod
    def prepare(spec: ModelSpec) -> None:
        """Fail early on a base model that cannot be resolved (convert a bundled one), and on an
        adapter trained on other weights than the ones this base model resolves to."""
        path = resolve_base_model(spec.base_model)
        if spec.adapter_dir:
            check_adapter(spec.adapter_dir, spec.base_model, weights_digest(path))

    def _stop_ids(self) -> list[int]:
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(int(i) for i in gen_eos)
        if not ids:
            raise HarnessError(f"model {self.spec.base_model!r} has no EOS token; cannot tell where an answer ends")
        return sorted(ids)

    def info(self) -> dict[str, Any]:
        template = getattr(self.tokenizer, "chat_template", None)
        return {
            "backend": self.name,
            "resolved_path": self.path,
            "device": self.device,
            "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
            "prefill_dtype": self.prefill_dtype,
            "load_in_4bit": self.options.load_in_4bit,
            "eos_token": self.tokenizer.eos_token,
            "pad_token": self.tokenizer.pad_token,
            "stop_token_ids": self.stop_ids,
            "chat_template_sha": hashlib.sha256(template.encode()).hexdigest()[:16] if template else None,
            "model_class": type(self.model).__name__,
            "adapter": self.active_adapter,
        }

    def prompt_length(self, messages: list[dict[str, str]], language: str = "en") -> int:
        """The prompt's length in tokens, for grouping prompts of similar length into batches."""
        text = render_prompt(messages, self.tokenizer, language)
        return len(self.tokenizer(text, add_special_tokens=not self.tokenizer.chat_template)["input_ids"])

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        if not requests:
            return []
        # One decoding config (and stop list) per call keeps the batch uniform; mixed ones are split up.
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.decoding, r.stop_strings), []).append(i)
        out: list[Generation | None] = [None] * len(requests)
        for idx in groups.values():
            try:
                gens = self._generate_batch([requests[i] for i in idx])
            except Exception as e:  # noqa: BLE001 - one failure must not lose the batch
                if len(idx) == 1:
                    gens = [Generation(text="", finish_reason="error", error=f"{type(e).__name__}: {e}")]
                else:
                    log.warning("batch of %d failed (%s); retrying one by one", len(idx), e)
                    gens = [self.generate([requests[i]])[0] for i in idx]
            for i, g in zip(idx, gens):
                out[i] = g
        return out  # type: ignore[return-value]

    def _generate_batch(self, requests: Sequence[GenRequest]) -> list[Generation]:
        import torch

        decoding = requests[0].decoding
        texts = [render_prompt(r.messages, self.tokenizer, r.language) for r in requests]
        # Chat templates already hold the special tokens they need.
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not self.tokenizer.chat_template)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        kwargs: dict[str, Any] = {
            "max_new_tokens": decoding.max_new_tokens,
            "repetition_penalty": decoding.repetition_penalty,
            "no_repeat_ngram_size": decoding.no_repeat_ngram_size or None,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.stop_ids,
            # Sampling is done by seeded_sampler inside greedy search (one generator per request);
            # unset the sampling knobs a model's generation_config may carry.
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None,
        }
        if decoding.do_sample:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([seeded_sampler(decoding, [r.seed for r in requests])])
        stop_strings = sorted({s for r in requests for s in r.stop_strings})
        if stop_strings:
            kwargs.update(stop_strings=stop_strings, tokenizer=self.tokenizer)
        started = time.perf_counter()
        with torch.inference_mode(), self._adapter_scope():
            if self.shrinking and not decoding.no_repeat_ngram_size and not stop_strings:
                rows = self._decode_shrinking(enc, decoding, [r.seed for r in requests])
            else:
                output = self.model.generate(**enc, **kwargs)
                rows = [row[enc["input_ids"].shape[1]:].tolist() for row in output]
        seconds = time.perf_counter() - started
        stop = set(self.stop_ids)
        gens = []
        for new, mask in zip(rows, enc["attention_mask"]):
            end = next((j for j, t in enumerate(new) if t in stop), None)
            if end is None and stop_strings:
                # A row stopped by a stop string is padded to the batch's length: drop the padding.
                while new and new[-1] == self.pad_id:
                    new.pop()
            if end is None:
                kept, n_tokens = new, len(new)
                reason = "length" if n_tokens >= decoding.max_new_tokens else "stop_string"
            else:
                kept, n_tokens, reason = new[:end], end + 1, "stop"
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            if stop_strings and reason == "stop" and any(text.endswith(s) for s in stop_strings):
                reason = "stop_string"  # the pad after a stop string is the EOS token here
            gens.append(Generation(text=text, prompt_tokens=int(mask.sum()), completion_tokens=n_tokens,
                                   finish_reason=reason, seconds=seconds, batch_size=len(requests)))
        return gens

    def _prefill(self, ids, mask):
        """(cache, last logits) for a left-padded batch, each prompt read alone: no padding is
        computed, and a prompt's cache does not depend on its neighbours. The caches are then
        laid side by side, left-padded with zeros (masked) to the batch's width."""
        import torch
        from transformers import DynamicCache

        dtype = next(self.model.parameters()).dtype
        autocast = self.prefill_dtype not in ("same", str(dtype).replace("torch.", ""))
        read_dtype = getattr(torch, self.prefill_dtype) if autocast else dtype
        layers: list[list] = []
        logits = []
        width = ids.shape[1]
        for row in range(ids.shape[0]):
            real = ids[row][mask[row].bool()][None]
            cache = DynamicCache(config=self.model.config)
            with torch.autocast(self.device.split(":")[0], dtype=read_dtype, enabled=autocast):
                out = self.model(input_ids=real, **cache_arg(self.model, cache), use_cache=True, logits_to_keep=1)
            logits.append(out.logits[:, -1, :].float())
            pad = width - real.shape[1]
            for i, layer in enumerate(cache.layers):
                k, v = (t.to(dtype) for t in (layer.keys, layer.values))
                if pad:
                    k = torch.cat([k.new_zeros(*k.shape[:2], pad, k.shape[3]), k], dim=2)
                    v = torch.cat([v.new_zeros(*v.shape[:2], pad, v.shape[3]), v], dim=2)
                if row == 0:
                    layers.append([[k], [v]])
                else:
                    layers[i][0].append(k)
                    layers[i][1].append(v)
        merged = DynamicCache(config=self.model.config)
        for i, (ks, vs) in enumerate(layers):
            merged.update(torch.cat(ks), torch.cat(vs), i)
        return merged, torch.cat(logits)

    def _decode_shrinking(self, enc: dict, decoding, seeds: Sequence[int]) -> list[list[int]]:
        """Greedy or seeded-sampled decoding in which a row leaves the batch (and its KV cache) as
        soon as it ends, so a batch no longer runs every row to its longest answer. Same tokens as
        generate() with the same prompt reading (same positions, masks, repetition penalty and
        per-request generators); float32 decoding keeps them batch-invariant."""
        import torch

        ids, mask = enc["input_ids"], enc["attention_mask"]
        max_new_tokens, penalty = decoding.max_new_tokens, decoding.repetition_penalty
        positions = mask.long().cumsum(-1) - 1
        positions.masked_fill_(mask == 0, 1)
        if self.prefill_dtype == "same" and not self.prefill_alone:
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                **cache_arg(self.model, cache), use_cache=True, logits_to_keep=1).logits[:, -1, :].float()
        else:
            cache, logits = self._prefill(ids, mask)
        generators = row_generators(seeds, ids.device) if decoding.do_sample else []
        seq = ids  # what the repetition penalty looks at, like generate(): prompt (padding too) + answer
        last = positions[:, -1]
        rows = list(range(ids.shape[0]))
        out: list[list[int]] = [[] for _ in rows]
        stop = set(self.stop_ids)
        for _ in range(max_new_tokens):
            if penalty != 1.0:
                picked = torch.gather(logits, 1, seq)
                picked = torch.where(picked < 0, picked * penalty, picked / penalty)
                logits = logits.scatter(1, seq, picked)
            token = sample_tokens(logits, decoding, generators) if generators else logits.argmax(-1)
            keep = []
            for j, r in enumerate(rows):
                out[r].append(int(token[j]))
                if int(token[j]) not in stop and len(out[r]) < max_new_tokens:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(rows):
                index = torch.tensor(keep, device=ids.device)
                cache.batch_select_indices(index)
                mask, token, last, seq = mask[index], token[index], last[index], seq[index]
                generators = [generators[j] for j in keep] if generators else []
                rows = [rows[j] for j in keep]
            seq = torch.cat([seq, token[:, None]], dim=1)
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
            last = last + 1
            logits = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None],
                                **cache_arg(self.model, cache), use_cache=True).logits[:, -1, :].float()
        return out

    def _adapter_scope(self):
        """The base model alone while adapters are loaded: peft's disable_adapter() bypasses every
        LoRA layer, which gives exactly the base model's outputs."""
        import contextlib

        if self.active_adapter is None and self.adapters:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def close(self) -> None:
        import torch

        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
