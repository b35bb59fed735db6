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


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from retrieval.embed import resolve_embedder

    return AutoTokenizer.from_pretrained(resolve_embedder("all-minilm-l6-v2"))


def tiny_bert_config(tokenizer, **kw):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=0, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=512, **kw)


def save_marking_detector(path, tokenizer, bad_word: str):
    """A real token classifier saved as safetensors whose answer is known: with no encoder layers a
    token's hidden state is its (layer-normed) embedding, so only `bad_word`'s tokens (embedding
    dimension 0 at +1, every other token's at -1) come out as class 1, 'hallucinated'."""
    import torch
    from transformers import BertForTokenClassification

    torch.manual_seed(0)
    model = BertForTokenClassification(tiny_bert_config(tokenizer, num_labels=2,
                                                        id2label={0: "supported", 1: "hallucinated"}))
    with torch.no_grad():
        emb = model.bert.embeddings
        emb.word_embeddings.weight.normal_(0, 0.02)
        emb.word_embeddings.weight[:, 0] = -1.0
        for token_id in tokenizer(bad_word, add_special_tokens=False)["input_ids"]:
            emb.word_embeddings.weight[token_id, 0] = 1.0
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        model.classifier.weight.zero_()
        model.classifier.weight[1, 0] = 1.0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    assert (path / "model.safetensors").exists()


def test_detector_judge_marks_the_tokens_its_model_calls_hallucinated(tmp_path):
    tokenizer = minilm_tokenizer()
    save_marking_detector(tmp_path / "det", tokenizer, "hotel")
    from harness.scoring.judges import DetectorJudge, make_judge

    judge = make_judge(f"detector:{tmp_path / 'det'}")
    assert isinstance(judge, DetectorJudge) and judge.full_context
    claims = ["Send the proof of loss within 60 days.", "The insurer also pays hotel bills for two weeks."]
    ok, bad = judge.judge([(claims[0], CTX[0]), (claims[1], CTX[0])])
    assert ok.value > 0.5 and not ok.missing
    assert bad.value < 0.5 and [claims[1][s:e] for s, e in bad.missing] == ["hotel"]
    # Through the scorer: the claim is flagged and the detector's token is one of the spans.
    scorer = Scorer(ScoreConfig(use_embeddings=False), judge=CachedJudge(judge, JsonCache(tmp_path / "j.json")))
    answer = "Send the proof of loss within 60 days after the loss. The insurer also pays hotel bills."
    result = scorer.score(answer, CTX)
    assert result.verdict == "hallucinated"
    assert any("hotel" in span["text"] for span in result.spans(answer))
    # A cached verdict keeps the detector's offsets.
    again = CachedJudge(judge, JsonCache(tmp_path / "j.json")).judge([(claims[1], CTX[0])])[0]
    assert again.missing == bad.missing


def test_nli_judge_loads_a_saved_cross_encoder_by_path(tmp_path):
    import torch
    from transformers import BertForSequenceClassification

    tokenizer = minilm_tokenizer()
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config(
        tokenizer, num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"}))
    model.save_pretrained(tmp_path / "nli")
    tokenizer.save_pretrained(tmp_path / "nli")
    judge = NLIJudge(str(tmp_path / "nli"))
    assert judge.entail == 2
    signals = judge.judge([("Send the proof of loss within 60 days.", CTX[0]), ("Hotels are paid.", CTX[0])])
    assert len(signals) == 2 and all(0.0 <= s.value <= 1.0 for s in signals)


def test_judge_models_that_cannot_load_are_one_clear_error(tmp_path):
    import pytest

    from harness.errors import HarnessError
    from harness.scoring.judges import make_judge

    with pytest.raises(HarnessError, match="model folder not found"):
        make_judge(f"nli:{tmp_path / 'missing'}")
    with pytest.raises(HarnessError, match="model folder not found"):
        make_judge("detector:./nowhere")
    # A hub id is accepted as a source; offline (as in every test) it fails to load, in one line.
    with pytest.raises(HarnessError, match="could not load the detector judge 'someone/some-detector'") as info:
        make_judge("detector:someone/some-detector")
    assert "\n" not in str(info.value)
