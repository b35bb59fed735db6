"""Optional judges behind one interface, off by default and cached:

- `nli:PATH_OR_HUB_ID`: an NLI cross-encoder (value = P(entailment) of context => claim);
- `detector:PATH_OR_HUB_ID`: a token-classification hallucination detector in the LettuceDetect
  style (context + claim as a pair, label 1 = hallucinated token on the claim's side; value =
  1 - the highest token probability, and the tokens it marks become the claim's spans);
- `llm:BACKEND:MODEL`: any generation backend asked yes/no (a local model through `hf`, the
  OpenAI-compatible backend once it exists).

A judge reads (claim, context) pairs and returns a Signal each: 1.0 supported, 0.0 not, None
when it cannot tell. Verdicts are cached in $HARNESS_HOME/cache/judge-*.json by a hash of
(judge, claim, context), so re-scoring the same answers costs nothing. Models load with
`trust_remote_code=False` and from safetensors only; a hub id needs the network (or the hub
cache) the first time, and a model that cannot be loaded is one clear error, not a fallback.
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


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_source(kind: str, spec: str) -> str:
    """A local folder, or a hub id ('owner/name'); anything else is an error naming what was given."""
    from pathlib import Path

    if not spec:
        raise HarnessError(f"the {kind} judge needs a model: a local folder or a hub id like owner/name")
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists() or spec.startswith((".", "/", "~")) or not HUB_ID.match(spec):
        raise HarnessError(f"{kind} judge model folder not found: {spec}")
    return spec


def load_failed(kind: str, spec: str, exc: Exception) -> HarnessError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return HarnessError(f"could not load the {kind} judge {spec!r} (a local folder, or a hub id when the hub or "
                        f"its cache is reachable): {first}")


class NLIJudge:
    """A sentence-transformers CrossEncoder trained for NLI; value = P(entailment)."""

    def __init__(self, path: str, model: Any = None):
        self.name = f"nli:{path}"
        if model is None:
            from sentence_transformers import CrossEncoder

            source = model_source("NLI", path)
            try:
                model = CrossEncoder(source, trust_remote_code=False, model_kwargs={"use_safetensors": True})
            except Exception as exc:  # noqa: BLE001 - any load failure is the same one-line error
                raise load_failed("NLI", path, exc) from exc
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


DETECTOR_PROMPT = ("Bear in mind that your response should be strictly based on the following passage:\n"
                   "{context}\noutput:")


class DetectorJudge:
    """A token-classification detector (LettuceDetect-style) reading (context prompt, claim) pairs.

    Sees the whole context rather than the few evidence sentences: such detectors are trained on
    full retrieved passages. Label 1 (or the label named 'hallucinated') is the unsupported class.
    """

    full_context = True

    def __init__(self, path: str, model: Any = None, tokenizer: Any = None, max_length: int = 4096,
                 batch_size: int = 8):
        self.name = f"detector:{path}"
        if model is None:
            from transformers import AutoModelForTokenClassification, AutoTokenizer

            source = model_source("detector", path)
            try:
                tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
                model = AutoModelForTokenClassification.from_pretrained(source, trust_remote_code=False,
                                                                        use_safetensors=True)
            except Exception as exc:  # noqa: BLE001 - any load failure is the same one-line error
                raise load_failed("detector", path, exc) from exc
        self.model, self.tokenizer = model.eval(), tokenizer
        labels = {int(k): str(v).lower() for k, v in (getattr(model.config, "id2label", None) or {}).items()}
        named = [i for i, label in labels.items() if label.startswith(("halluc", "unsupported"))]
        self.bad = named[0] if named else 1
        limit = getattr(tokenizer, "model_max_length", max_length) or max_length
        self.max_length = min(max_length, limit, getattr(model.config, "max_position_embeddings", max_length))
        self.batch_size = batch_size

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        import torch

        out: list[Signal] = []
        for at in range(0, len(pairs), self.batch_size):
            chunk = pairs[at:at + self.batch_size]
            enc = self.tokenizer([DETECTOR_PROMPT.format(context=context) for _, context in chunk],
                                 [claim for claim, _ in chunk], truncation="only_first", max_length=self.max_length,
                                 padding=True, return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping")
            with torch.no_grad():
                probs = torch.softmax(self.model(**enc).logits.float(), dim=-1)[..., self.bad]
            for row, (claim, _) in enumerate(chunk):
                side = [i for i, s in enumerate(enc.sequence_ids(row)) if s == 1 and offsets[row, i, 1] > offsets[row, i, 0]]
                if not side:
                    out.append(Signal(None, "detector saw no claim tokens"))
                    continue
                p = probs[row, side]
                marked = [tuple(int(x) for x in offsets[row, i]) for i, q in zip(side, p.tolist()) if q >= 0.5]
                worst = float(p.max())
                reason = (f"detector: {len(marked)} of {len(side)} tokens unsupported (max p {worst:.2f})" if marked
                          else f"detector: no token unsupported (max p {worst:.2f})")
                out.append(Signal(1.0 - worst, reason, merge_offsets(marked, claim)))
        return out


def merge_offsets(marks: list[tuple[int, ...]], text: str) -> tuple[tuple[int, int], ...]:
    """Adjacent marked tokens (only spaces between them) become one span."""
    spans: list[list[int]] = []
    for s, e in sorted(marks):
        if spans and not text[spans[-1][1]:s].strip():
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
    return tuple((s, e) for s, e in spans)


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
judge_registry.register("detector", DetectorJudge)
judge_registry.register("llm", LLMJudge)


def make_judge(spec: str) -> Judge | None:
    """'' -> None; 'nli:PATH_OR_ID', 'detector:PATH_OR_ID' or 'llm:BACKEND:MODEL' -> the judge."""
    if not spec:
        return None
    name, _, arg = spec.partition(":")
    return judge_registry.get(name)(arg)


class CachedJudge:
    def __init__(self, judge: Judge, cache: JsonCache):
        self.inner, self.cache, self.name = judge, cache, judge.name
        self.full_context = getattr(judge, "full_context", False)

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Signal]:
        keys = [JsonCache.key({"judge": self.name, "claim": c, "context": x}) for c, x in pairs]
        todo = [i for i, k in enumerate(keys) if self.cache.get(k) is None]
        if todo:
            fresh = self.inner.judge([pairs[i] for i in todo])
            for i, signal in zip(todo, fresh):
                self.cache.set(keys[i], {"value": signal.value, "reason": signal.reason,
                                         "missing": [list(m) for m in signal.missing]})
            self.cache.flush()
        return [Signal(hit["value"], hit["reason"], tuple(tuple(m) for m in hit.get("missing", ())))
                for hit in (self.cache.get(k) for k in keys)]
