"""The learned combiner's parts on inputs whose right answer is known."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.scoring.batch import span_f1
from harness.scoring.combiner import LogisticModel, Variant, fit_logistic, load_combiner
from harness.scoring.fit import AnswerRow, choose_threshold, set_weighted_kappa
from harness.scoring.labels import diff_spans, record_spans
from harness.scoring.numbers import context_quantities, drop_outline, extract_quantities, supported
from harness.scoring.parts import part_of
from harness.scoring.refusal import RefusalDetector


def test_fit_logistic_learns_the_direction_of_a_feature_and_round_trips():
    X = [[x / 10, 0.5] for x in range(10)]
    y = [0] * 5 + [1] * 5
    model = fit_logistic(X, y, ("novel", "constant"), C=10.0)
    assert model.probability({"novel": 0.9, "constant": 0.5}) > 0.9 > 0.1 > model.probability({"novel": 0.0, "constant": 0.5})
    assert model.scale[1] == 1.0  # a constant feature is left unscaled, not divided by zero
    assert LogisticModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model


def test_set_weighted_kappa_counts_each_set_once():
    labels = [True, False] * 2 + [True] * 8
    flagged = [True, False] * 2 + [True] * 6 + [False] * 2
    sets = ["a"] * 4 + ["b"] * 8
    # a: perfect (kappa 1); b: all hallucinated, 6 of 8 flagged: no better than chance (kappa 0).
    # Pooled, b's 8 answers would outweigh a's 4; averaged per set, each counts once.
    assert set_weighted_kappa(labels, flagged, sets) == pytest.approx((1.0 + 0.0) / 2)


def test_choose_threshold_picks_the_separating_support():
    answers = [AnswerRow("s", str(i), str(i), h, False, []) for i, h in enumerate([True, True, False, False])]
    threshold, metrics = choose_threshold([0.9, 0.8, 0.2, 0.1], answers)
    assert 0.2 < threshold <= 0.8 + 1e-5 and metrics["kappa"] == 1.0


def test_span_f1_is_character_overlap():
    rows = [{"_label": {"spans": [{"start": 0, "end": 10}]}, "spans": [{"start": 5, "end": 15}]},
            {"_label": {"spans": []}, "spans": []}, {"_label": {}, "spans": [{"start": 0, "end": 99}]}]
    m = span_f1(rows)
    assert m["n"] == 2 and m["precision"] == m["recall"] == m["f1"] == 0.5
    assert span_f1([{"_label": {}, "spans": []}]) is None


def test_a_perturbation_s_unsupported_words_are_its_difference_to_the_gold_answer():
    gold = "Up to $30,000, and only for policies with building coverage."
    swapped = "Up to $60,000, and only for policies with building coverage."
    assert [swapped[s:e] for s, e in diff_spans(swapped, gold)] == ["$60,000,"]
    record = {"hallucinated": True, "group": "q", "kind": "number_swap", "answer": swapped}
    assert record_spans(record, {"q": gold}) == diff_spans(swapped, gold)
    assert record_spans({**record, "hallucinated": False}, {}) == []
    assert record_spans({**record, "group": "other"}, {"q": gold}) is None  # unknown: left out, not guessed


def test_parts_follow_the_group_and_a_line_s_own_part():
    assert part_of({"id": "a", "part": "heldout"}) == "heldout"
    assert {part_of({"id": f"x{i}", "group": "same"}) for i in range(20)} == {part_of({"id": "y", "group": "same"})}


def test_clause_numbers_are_not_quantities_and_times_convert_exactly():
    context = "Dwelling Form > 2. Limit of Liability\n(4) Within 60 days after the loss, send us a proof of loss."
    assert [q.text for q in context_quantities(context)] == ["60 days"]
    claim = "The policy states: 4. Within 60 days"
    assert [q.text for q in drop_outline(claim, extract_quantities(claim))] == ["60 days"]
    two_days = extract_quantities("two days")[0]
    assert supported(two_days, extract_quantities("48 hours")) and not supported(two_days, extract_quantities("2 weeks"))
    assert supported(extract_quantities("24 months")[0], extract_quantities("two years"))
    assert [q.text for q in context_quantities("three to four days")] == ["three", "four days"]


@pytest.mark.parametrize("text", ["제시된 약관 내용에는 렌터카 비용에 관한 규정이 보이지 않습니다.",
                                  "이 발췌문만으로는 답하기 어렵습니다.", "약관에서 이 내용은 나와 있지 않습니다."])
def test_korean_refusals_in_natural_words(text):
    assert RefusalDetector().matches(text)


def test_a_bad_combiner_file_is_one_clear_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"variants": {"full": {"claim": {}}}}', encoding="utf-8")
    with pytest.raises(HarnessError, match="not a combiner file"):
        load_combiner(path)
    with pytest.raises(HarnessError, match="not found"):
        load_combiner(tmp_path / "missing.json")


def test_the_shipped_combiner_has_both_variants_and_thresholds_in_range():
    combiner = load_combiner()
    for name in ("full", "lexical"):
        v: Variant = combiner.variant(name)
        assert 0 < v.threshold < 1 and 0 < v.claim_threshold < 1
    assert combiner.version.startswith("c:") and combiner.meta["claims"] > 1000
    assert set(combiner.meta["sets"]) >= {"eval_sets/labeled/web_answers.jsonl", "eval_sets/labeled/ko_fluent_answers.jsonl"}


def test_word_alignment_finds_copied_words_and_not_invented_ones():
    from harness.scoring.alignment import TokenEncoder, word_support

    encoder = TokenEncoder()
    context, answer = encoder.encode(["We will pay up to $30,000 for compliance costs.",
                                      "It pays compliance costs and a free helicopter ride"])
    support = {answer.text[s:e]: a for s, e, a in word_support(answer, 0, len(answer.text), [context])}
    assert set(support) >= {"compliance", "costs", "helicopter"} and "and" not in support  # stop words are not aligned
    assert support["compliance"] > 0.8 and support["costs"] > 0.8
    assert support["helicopter"] < min(support["compliance"], support["costs"]) - 0.2
    # one pass per text: the same text is not encoded twice
    assert encoder.encode([answer.text])[0] is answer


def test_evidence_is_the_sentences_sharing_the_rarest_words_in_document_order():
    from harness.scoring.evidence import select_evidence

    sentences = ["The policy covers flood.", "Proof of loss is due within 60 days.", "Flood means water.",
                 "The policy covers buildings.", "Appraisal settles disputes."]
    assert 1 in select_evidence("Send the proof of loss within 60 days.", sentences, k=1)
    assert select_evidence("anything", sentences[:2], k=3) == [0, 1]  # short contexts: every sentence
    picked = select_evidence("Flood covers buildings and proof of loss.", sentences, k=3)
    assert picked == sorted(picked)
