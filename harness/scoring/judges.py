"""Optional judges behind one interface, off by default and cached: an NLI cross-encoder from
a local folder, or an LLM judge (any generation backend: a local model through `hf`, and the
OpenAI-compatible backend once it exists).

A judge reads (claim, context) pairs and returns a Signal each: 1.0 supported, 0.0 not, None
when it cannot tell. Verdicts are cached in $HARNESS_HOME/cache/judge-*.json by a hash of
(judge, claim, context), so re-scoring the same answers costs nothing.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Protocol, Sequence

from harness.cache import JsonCache
from harness.errors import HarnessError
from harness.registry import Registry
from harness.scoring.signals import Signal


class Judge(Protocol):
    name: str

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        ...


class NLIJudge:
    """A sentence-transformers CrossEncoder trained for NLI; value = P(entailment)."""

    def __init__(self, path: str, model: Any = None):
        self.name = f"nli:{path}"
        if model is None:
            from pathlib import Path

            from sentence_transformers import CrossEncoder

            if not Path(path).is_dir():
                raise HarnessError(f"NLI judge folder not found: {path}")
            model = CrossEncoder(path, trust_remote_code=False)
        self.model = model
        labels = {int(k): str(v).lower() for k, v in getattr(getattr(model, "config", None), "id2label", {}).items()} or \
            {0: "contradiction", 1: "entailment", 2: "neutral"}
        entail = [i for i, label in labels.items() if label.startswith("entail")]
        if not entail:
            raise HarnessError(f"NLI judge {path} has no 'entailment' label (labels: {labels})")
        self.entail = entail[0]

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        import numpy as np

        if not pairs:
            return []
        logits = np.asarray(self.model.predict([(context, claim) for claim, context in pairs]), dtype="float64")
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return [Signal(float(p[self.entail]), f"NLI entailment probability {p[self.entail]:.2f}") for p in probs]


JUDGE_SYSTEM = ("You check answers against insurance policy clauses. Reply with one word: yes if the claim is "
                "fully supported by the clauses, no otherwise.")


class LLMJudge:
    """Asks a generation backend whether each claim is supported; parses yes / no (or 예 / 아니요)."""

    def __init__(self, spec: str, backend: Any = None):
        self.name = f"llm:{spec}"
        if backend is None:
            from harness.backends.base import BackendOptions, create_backend
            from harness.models import ModelSpec

            backend_name, _, base_model = spec.partition(":")
            if not base_model:
                raise HarnessError(f"LLM judge needs BACKEND:MODEL, e.g. llm:hf:smollm2-135m, got {spec!r}")
            backend = create_backend(backend_name, ModelSpec("judge", base_model), BackendOptions())
        self.backend = backend

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        from harness.backends.base import GenRequest
        from harness.config import DecodingConfig

        requests = [GenRequest(f"judge-{i}", [{"role": "system", "content": JUDGE_SYSTEM},
                                               {"role": "user", "content": f"Clauses:\n{context}\n\nClaim: {claim}\n"
                                                                           "Is the claim fully supported by the clauses?"}],
                               decoding=DecodingConfig(max_new_tokens=4))
                    for i, (claim, context) in enumerate(pairs)]
        out = []
        for gen in self.backend.generate(requests):
            word = (re.findall(r"[a-z가-힣]+", gen.text.lower()) or [""])[0]
            value = 1.0 if word in ("yes", "예", "네") else 0.0 if word in ("no", "아니요", "아니오") else None
            out.append(Signal(value, f"judge said {gen.text.strip()[:20]!r}"))
        return out


judge_registry: Registry[Callable[[str], Judge]] = Registry("judge")
judge_registry.register("nli", NLIJudge)
judge_registry.register("llm", LLMJudge)


def make_judge(spec: str) -> Judge | None:
    """'' -> None; 'nli:PATH' or 'llm:BACKEND:MODEL' -> the judge."""
    if not spec:
        return None
    name, _, arg = spec.partition(":")
    return judge_registry.get(name)(arg)


class CachedJudge:
    def __init__(self, judge: Judge, cache: JsonCache):
        self.inner, self.cache, self.name = judge, cache, judge.name

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        keys = [JsonCache.key({"judge": self.name, "claim": c, "context": x}) for c, x in pairs]
        todo = [i for i, k in enumerate(keys) if self.cache.get(k) is None]
        if todo:
            fresh = self.inner.judge([pairs[i] for i in todo])
            for i, signal in zip(todo, fresh):
                self.cache.set(keys[i], {"value": signal.value, "reason": signal.reason})
            self.cache.flush()
        return [Signal(self.cache.get(k)["value"], self.cache.get(k)["reason"]) for k in keys]
