"""The backend contract: a batch of requests in, one Generation per request out, same order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from harness.config import DecodingConfig
from harness.models import ModelSpec
from harness.registry import Registry


@dataclass(frozen=True)
class GenRequest:
    request_id: str
    messages: list[dict[str, str]]
    language: str = "en"
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    seed: int = 0  # this request's own sampling seed (sampled decoding only)
    stop_strings: tuple[str, ...] = ()  # stop generating once the answer contains one of these


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0  # generated tokens up to and including the end-of-sequence token
    finish_reason: str = "stop"  # "stop" (EOS), "length" (hit max_new_tokens) or "error"
    seconds: float = 0.0  # wall time of the batch this answer was generated in
    batch_size: int = 1
    error: str | None = None


@dataclass(frozen=True)
class BackendOptions:
    dtype: str = "auto"
    device: str = "auto"
    load_in_4bit: bool = False
    prefill_dtype: str = "auto"  # hf: the dtype prompts are read in (auto: bf16 autocast on a CPU with bf16)
    # Server backends (openai): where, how many requests at once, how long to wait, how often to retry.
    api_base: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    request_timeout: float = 120.0
    max_retries: int = 4
    retry_backoff: float = 0.5
    retry_max_wait: float = 30.0  # no wait between two tries is longer
    server_params: str = "extended"  # "strict": only OpenAI's own request fields


class Backend(Protocol):
    name: str

    def info(self) -> dict[str, Any]:
        """Provenance for the results: resolved model, dtype, device, EOS/pad tokens, template hash."""
        ...

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        """One Generation per request, in the same order; a failed request gets error set."""
        ...

    def close(self) -> None:
        """Free memory (GPU memory above all) before the next model loads."""
        ...

    # Optional, looked up with getattr:
    #   prepare(spec) (static): check/convert what will be loaded, before a run starts.
    #   identity(spec, options) (static): what the cache key needs to know about the model,
    #       computed without loading it.
    #   switch(spec) -> bool: answer as another model without reloading (LoRA adapters on one
    #       loaded base); False when it cannot.


backend_registry: Registry[type] = Registry("backend")
backend_registry.register("hf", "harness.backends.hf:HFBackend")
backend_registry.register("scripted", "harness.backends.scripted:ScriptedBackend")
backend_registry.register("openai", "harness.backends.openai:OpenAIBackend")
backend_registry.register("llamacpp", "harness.backends.llamacpp:LlamaCppBackend")


def create_backend(name: str, spec: ModelSpec, options: BackendOptions) -> Backend:
    return backend_registry.get(name)(spec, options)
