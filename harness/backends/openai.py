"""OpenAI-compatible chat-completions backend: vLLM, TGI, llama.cpp's server, Ollama, a hosted API.

Where: `--api-base` (or the model's `api_base` in models.json, or OPENAI_BASE_URL), e.g.
http://127.0.0.1:8000/v1. Which model: the served name, i.e. `--base-model` for `base` and, for a
registered model, its `served_model` in models.json or else its name (vLLM serves LoRA adapters
by the names given in `--lora-modules v2=...`). The key comes from the environment variable
named by `--api-key-env` (OPENAI_API_KEY by default) at request time: it is never stored,
logged, or put in results or errors.

Requests run `concurrency` at a time (threads; the work is waiting on the server). 429, 5xx,
timeouts and dropped connections are retried with exponential backoff and jitter (a
Retry-After header is honoured); other errors are not retried. A request that still fails
becomes a failed Generation with a one-line reason: the run records it and `--resume` retries
it. Stdlib HTTP only: no client library to install.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from harness.backends.base import BackendOptions, GenRequest, Generation
from harness.errors import HarnessError
from harness.models import ModelSpec

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RequestFailed(Exception):
    """A request that will not succeed by retrying (or ran out of retries); one-line message."""


def api_base_for(spec: ModelSpec, options: BackendOptions) -> str:
    base = spec.api_base or options.api_base or os.environ.get("OPENAI_BASE_URL", "")
    if not base:
        raise HarnessError("the openai backend needs a server: --api-base http://HOST:PORT/v1 "
                           "(or api_base in models.json, or OPENAI_BASE_URL)")
    if not base.startswith(("http://", "https://")):
        raise HarnessError(f"--api-base must be an http(s) URL, got {base!r}")
    return base.rstrip("/")


def served_name(spec: ModelSpec) -> str:
    """The name the server knows the model by."""
    if spec.served_model:
        return spec.served_model
    return spec.base_model if spec.name == "base" else spec.name


class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: ModelSpec, options: BackendOptions | None = None):
        self.options = options or BackendOptions()
        self.spec = spec
        self.retries = 0  # requests tried again, over the backend's life (accounting)
        self._count_lock = threading.Lock()
        self.base_url = api_base_for(spec, self.options)
        self.model = served_name(spec)
        self.server_models = self._check_server()
        self._require_model()

    # --- what identifies the answers --------------------------------------------------------

    @staticmethod
    def identity(spec: ModelSpec, options: BackendOptions) -> dict[str, Any]:
        # The server's weights are not visible from here: answers are cached by where and what
        # name they came from. Serve other weights under the same name? Use --no-cache.
        return {"backend": "openai", "api_base": api_base_for(spec, options), "model": served_name(spec)}

    def switch(self, spec: ModelSpec) -> bool:
        """Another model on the same server is just another name in the request."""
        if api_base_for(spec, self.options) != self.base_url:
            return False
        self.spec, self.model = spec, served_name(spec)
        self._require_model()
        return True

    def info(self) -> dict[str, Any]:
        return {"backend": self.name, "api_base": self.base_url, "model": self.model,
                "api_key_env": self.options.api_key_env, "concurrency": self.options.concurrency,
                "server_models": self.server_models, "eos_token": None, "pad_token": None}

    def close(self) -> None:
        pass

    # --- HTTP ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.options.api_key_env or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        """One HTTP exchange with retries; the parsed JSON, or RequestFailed with a one-line reason."""
        url = f"{self.base_url}{path}"
        data = None if body is None else json.dumps(body).encode()
        attempts = max(0, self.options.max_retries) + 1
        last = ""
        for attempt in range(attempts):
            request = urllib.request.Request(url, data=data, headers=self._headers(), method=method)
            wait = None
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.options.request_timeout) as response:
                    payload = response.read()
                try:
                    return json.loads(payload)
                except json.JSONDecodeError:
                    raise RequestFailed(f"{method} {url}: the response is not JSON "
                                        f"({payload[:80].decode(errors='replace')!r})") from None
            except urllib.error.HTTPError as e:
                detail = _error_detail(e)
                last = f"HTTP {e.code} from {method} {url}{': ' + detail if detail else ''}"
                if e.code in (401, 403):
                    raise RequestFailed(f"{last} (check the key in ${self.options.api_key_env})") from None
                if e.code not in RETRY_STATUS:
                    raise RequestFailed(last) from None
                wait = _retry_after(e)
            except (socket.timeout, TimeoutError):
                last = f"{method} {url} timed out after {timeout or self.options.request_timeout:g} s"
            except urllib.error.URLError as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    last = f"{method} {url} timed out after {timeout or self.options.request_timeout:g} s"
                else:
                    last = f"cannot reach {url}: {reason}"
            except (ConnectionError, http.client.HTTPException) as e:
                last = f"connection to {url} failed: {type(e).__name__}: {e}"
            if attempt + 1 < attempts:
                # Exponential backoff with full jitter, unless the server said how long to wait.
                pause = wait if wait is not None else random.uniform(0, self.options.retry_backoff * 2 ** attempt)
                with self._count_lock:
                    self.retries += 1
                time.sleep(min(pause, self.options.retry_max_wait))
        raise RequestFailed(f"{last} (after {attempts} attempts)" if attempts > 1 else last)

    def _check_server(self) -> list[str] | None:
        """The models the server lists (None when it has no listing); fails before any item on a
        server that is down, a wrong URL or a bad key."""
        try:
            listing = self._call("GET", "/models", timeout=min(self.options.request_timeout, 30))
        except RequestFailed as e:
            text = str(e)
            if "HTTP 404" in text or "HTTP 405" in text:
                return None  # no model listing on this server: names are checked by the first request
            raise HarnessError(f"openai backend: {text}") from None
        names = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)] \
            if isinstance(listing, dict) else []
        return names or None

    def _require_model(self) -> None:
        models = self.server_models
        # llama.cpp's server lists the one model it has under its file name and answers to any name.
        if models and self.model not in models and not _single_model_server(models):
            raise HarnessError(f"openai backend: the server at {self.base_url} does not serve {self.model!r} "
                               f"(it serves: {', '.join(models)}); set --base-model or served_model in models.json")

    # --- generation ---------------------------------------------------------------------------

    def _body(self, r: GenRequest) -> dict[str, Any]:
        d = r.decoding
        body: dict[str, Any] = {"model": self.model, "messages": r.messages, "max_tokens": d.max_new_tokens,
                                "stream": False}
        if d.do_sample:
            body.update(temperature=d.temperature, top_p=d.top_p, seed=int(r.seed) % (2 ** 31))
        else:
            body.update(temperature=0.0, top_p=1.0, seed=0)
        # Not in OpenAI's own API, understood by vLLM, TGI and llama.cpp (under their own names).
        # Sent always by default: a server's own defaults differ (llama.cpp's repeat_penalty is
        # 1.1), and greedy must mean greedy. --server-params strict leaves them out for hosted
        # APIs that refuse unknown fields (then only a preset that changes them fails).
        strict = self.options.server_params == "strict"
        if not strict or d.repetition_penalty != 1.0:
            body.update(repetition_penalty=d.repetition_penalty, repeat_penalty=d.repetition_penalty)
        if not strict:
            body["top_k"] = d.top_k if d.do_sample else 1
        elif d.do_sample and d.top_k:
            body["top_k"] = d.top_k
        if r.stop_strings:
            body["stop"] = list(r.stop_strings)
        return body

    def _one(self, r: GenRequest) -> Generation:
        started = time.perf_counter()
        try:
            response = self._call("POST", "/chat/completions", self._body(r))
            choices = response.get("choices") if isinstance(response, dict) else None
            if not choices or not isinstance(choices, list):
                raise RequestFailed(f"response from {self.base_url}/chat/completions has no choices")
            choice = choices[0]
            text = ((choice.get("message") or {}).get("content")) or ""
            usage = response.get("usage") or {}
            if choice.get("finish_reason") == "length":
                reason = "length"
            elif (choice.get("finish_reason") or "stop") == "stop" and r.stop_strings \
                    and choice.get("stop_reason") in r.stop_strings:
                reason = "stop_string"  # vLLM says which stop string fired
            else:
                reason = "stop"
            return Generation(text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                              completion_tokens=int(usage.get("completion_tokens") or 0),
                              finish_reason=reason, seconds=time.perf_counter() - started, batch_size=1)
        except RequestFailed as e:
            return Generation(text="", finish_reason="error", error=str(e), seconds=time.perf_counter() - started)
        except Exception as e:  # noqa: BLE001 - a malformed answer fails its item, not the run
            return Generation(text="", finish_reason="error", error=f"{type(e).__name__}: {e}",
                              seconds=time.perf_counter() - started)

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        if not requests:
            return []
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, min(self.options.concurrency, len(requests)))) as pool:
            gens = list(pool.map(self._one, requests))
        seconds = time.perf_counter() - started
        # Like hf: `seconds` is the wall time of the whole call, counted once per batch in tokens/s.
        return [Generation(g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason, seconds, len(requests),
                           g.error) for g in gens]


def _single_model_server(models: list[str]) -> bool:
    return len(models) == 1 and (models[0].endswith(".gguf") or "/" in models[0])


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(e.read() or b"{}")
    except (json.JSONDecodeError, OSError, ValueError):
        return ""
    err = payload.get("error", payload) if isinstance(payload, dict) else payload
    message = err.get("message") if isinstance(err, dict) else err
    return " ".join(str(message or "").split())[:200]


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    value = e.headers.get("Retry-After") if e.headers else None
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None
