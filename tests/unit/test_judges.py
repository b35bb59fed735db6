"""The optional judges: one interface, applied to claims, cached."""

from __future__ import annotations

import numpy as np

from harness.backends.scripted import ScriptedBackend
from harness.cache import JsonCache
from harness.models import ModelSpec
from harness.scoring.judges import CachedJudge, LLMJudge, NLIJudge
from harness.scoring.scorer import ScoreConfig, Scorer

CTX = ["Dwelling Form > VII. General Conditions > G.\n4. Within 60 days after the loss, send us a proof of loss."]


class FakeNLI:
    class config:  # noqa: N801 - mimics a transformers config
        id2label = {0: "CONTRADICTION", 1: "ENTAILMENT", 2: "NEUTRAL"}

    def __init__(self):
        self.calls = 0

    def predict(self, pairs):
        self.calls += 1
        return np.array([[0.0, 5.0, 0.0] if "60 days" in claim else [5.0, 0.0, 0.0] for _, claim in pairs])


def test_nli_judge_reads_entailment_and_caps_unsupported_claims(tmp_path):
    model = FakeNLI()
    judge = CachedJudge(NLIJudge("fake", model=model), JsonCache(tmp_path / "judge.json"))
    scorer = Scorer(ScoreConfig(use_embeddings=False), judge=judge)
    ok = scorer.score("Send the proof of loss within 60 days after the loss.", CTX)
    assert ok.verdict == "supported" and ok.claims[0].signals["judge"].value > 0.9
    # Lexically this claim is fine (every word is in the context); the judge disagrees.
    bad = scorer.score("Send the proof of loss after the loss.", CTX)
    assert bad.claims[0].signals["judge"].value < 0.1 and bad.verdict == "hallucinated"
    calls = model.calls
    scorer.score("Send the proof of loss after the loss.", CTX)
    assert model.calls == calls  # answered from the cache
    assert len(JsonCache(tmp_path / "judge.json")) == 2  # and the cache is on disk


def test_llm_judge_parses_yes_and_no():
    backend = ScriptedBackend(ModelSpec("judge", "x"))
    backend.enqueue("Yes.", "no", "maybe")
    signals = LLMJudge("scripted:x", backend=backend).judge([("a", "c"), ("b", "c"), ("d", "c")])
    assert [s.value for s in signals] == [1.0, 0.0, None]
    assert "Claim: a" in backend.history[0].messages[1]["content"]
