"""A backend without a model, for tests and dry runs (lm-eval's dummy, llm's MockModel).

Queued replies come first (`enqueue`); with none queued it answers with the first sentence of
the first clause it was given, or the refusal sentence when it was given no clause. Every
request it saw is kept in `history`. HARNESS_SCRIPTED_DELAY (seconds per request) makes it
slow enough for a test to kill a run half way.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from typing import Any, Sequence

from harness.backends.base import BackendOptions, GenRequest, Generation
from harness.models import ModelSpec
from harness.prompts import REFUSAL

# The body of clause [1]: up to clause [2] or the question line.
_CLAUSE_BODY = re.compile(r"^\[1\][^\n]*\n(.*?)(?=\n\n\[2\]|\n\n\S+: |\Z)", re.S | re.M)


class ScriptedBackend:
    name = "scripted"
    # Tests put replies here before the CLI creates the backend; each new backend takes them.
    pending: deque[str] = deque()

    def __init__(self, spec: ModelSpec, options: BackendOptions | None = None):
        self.spec = spec
        self.queue: deque[str] = deque(ScriptedBackend.pending)
        ScriptedBackend.pending.clear()
        self.history: list[GenRequest] = []

    def enqueue(self, *replies: str) -> None:
        self.queue.extend(replies)

    def info(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.spec.name, "eos_token": None, "pad_token": None}

    def _default_reply(self, request: GenRequest) -> str:
        user = next((m["content"] for m in request.messages if m["role"] == "user"), "")
        m = _CLAUSE_BODY.search(user)
        if not m:
            return REFUSAL.get(request.language, REFUSAL["en"])
        paragraphs = [p.strip() for p in m.group(1).split("\n\n") if p.strip() and not p.strip().startswith("#")]
        if not paragraphs:
            return REFUSAL.get(request.language, REFUSAL["en"])
        return re.split(r"(?<=[.?!])\s", paragraphs[0], maxsplit=1)[0]

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        time.sleep(float(os.environ.get("HARNESS_SCRIPTED_DELAY", "0")) * len(requests))
        out = []
        for r in requests:
            self.history.append(r)
            text = self.queue.popleft() if self.queue else self._default_reply(r)
            prompt = " ".join(m["content"] for m in r.messages)
            n = min(len(text.split()) + 1, r.decoding.max_new_tokens)
            out.append(Generation(text=text, prompt_tokens=len(prompt.split()), completion_tokens=n,
                                  finish_reason="stop", seconds=0.001, batch_size=len(requests)))
        return out

    def close(self) -> None:
        pass
