"""The scorer's signals on inputs whose right answer is known."""

from __future__ import annotations

import pytest

from harness.scoring.batch import binary_metrics, choose_threshold, roc_auc
from harness.scoring.citations import citation_in_context, find_citations
from harness.scoring.correctness import correctness, key_fact_coverage, numeric_agreement, token_f1
from harness.scoring.numbers import extract_quantities, supported
from harness.scoring.refusal import RefusalDetector
from harness.scoring.scorer import ScoreConfig, Scorer
from harness.scoring.text import split_claims

DWELLING_ICC = ("Dwelling Form > III. Property Insured > D. Coverage D—Increased Cost of Compliance > 2. Limit of Liability\n"
                "We will pay you up to $30,000 under this Coverage D—Increased Cost of Compliance, which only applies to "
                "policies with building coverage (Coverage A). We do not charge a separate deductible for a claim under Coverage D.")
DWELLING_EARTH = ("Dwelling Form > V. Exclusions > C.\nC. We do not insure for loss to property caused directly by earth "
                  "movement even if the earth movement is caused by flood.")
DWELLING_PROOF = ("Dwelling Form > VII. General Conditions > G. Requirements in Case of Loss\n"
                  "4. Within 60 days after the loss, send us a proof of loss, which is your statement of the amount you are claiming.")
CONTEXT = [DWELLING_ICC, DWELLING_EARTH, DWELLING_PROOF]


@pytest.fixture(scope="module")
def lexical():
    return Scorer(ScoreConfig(use_embeddings=False))


@pytest.fixture(scope="module")
def full():
    return Scorer(ScoreConfig(use_embeddings=True))


@pytest.mark.parametrize("a, b", [("$30,000", "30,000 dollars"), ("60 days", "sixty days"), ("5%", "5 percent"),
                                  ("3만 원", "30,000원"), ("two times", "2배"), ("one year", "1 year"),
                                  ("$1.5 million", "1,500,000 dollars"), ("twenty-five percent", "25%")])
def test_numbers_are_normalized(a, b):
    qa, qb = extract_quantities(a), extract_quantities(b)
    assert len(qa) == len(qb) == 1 and supported(qa[0], qb) and supported(qb[0], qa)


def test_numbers_with_other_units_do_not_match():
    assert not supported(extract_quantities("60 years")[0], extract_quantities("60 days"))
    assert supported(extract_quantities("60")[0], extract_quantities("60 days"))  # a bare number matches any unit


def test_a_swapped_number_is_caught_and_its_span_returned(lexical):
    answer = "Coverage D is for policies with building coverage. It pays up to $50,000."
    result = lexical.score(answer, CONTEXT)
    assert result.verdict == "hallucinated"
    spans = result.spans(answer)
    assert [s["text"] for s in spans] == ["$50,000"]  # word-level: the invented number, not the sentence
    assert answer[spans[0]["start"]:spans[0]["end"]] == spans[0]["text"]
    weak = min((c for c in result.claims if c.support is not None), key=lambda c: c.support)
    assert weak.flagged and "$50,000" in weak.signals["numbers"].reason
    assert lexical.score("Coverage D pays up to 30,000 dollars.", CONTEXT).verdict == "supported"


def test_a_faithful_paraphrase_passes(full):
    for answer in ["Coverage D pays at most $30,000, and there is no separate deductible for it.",
                   "No. Loss caused directly by earth movement is not insured, even when a flood caused it.",
                   "You have to send the proof of loss within sixty days after the loss."]:
        result = full.score(answer, CONTEXT)
        assert result.verdict == "supported", (answer, [(c.claim.text, c.support) for c in result.claims])


def test_a_flipped_negation_is_caught(lexical):
    result = lexical.score("Loss caused directly by earth movement is insured when a flood causes it.", CONTEXT)
    assert result.verdict == "hallucinated"
    assert result.claims[0].signals["negation"].value == 0.0


def test_a_claim_from_the_wrong_form_is_caught(lexical):
    result = lexical.score("Under the General Property Form, pollution damage is paid up to $10,000.", CONTEXT)
    assert result.verdict == "hallucinated"
    signals = result.claims[0].signals
    assert "General Property Form" in signals["terms"].reason and "$10,000" in signals["numbers"].reason


def test_a_citation_to_an_article_not_in_the_context_is_flagged(lexical):
    bad = lexical.score("Under Article IX.B, Coverage D pays up to $30,000.", CONTEXT)
    assert bad.verdict == "hallucinated" and bad.claims[0].signals["citation"].value == 0.0
    good = lexical.score("Under VII.G, send a proof of loss within 60 days after the loss.", CONTEXT)
    assert good.claims[0].signals["citation"].value == 1.0 and good.verdict == "supported"
    assert [c.text for c in find_citations("Per Article V.C and 제3조 제2항, I agree.")] == ["Article V.C", "제3조 제2항"]
    assert citation_in_context(find_citations("제3조")[0], "약관 > 제3조(보상하는 재산)")
    assert not citation_in_context(find_citations("제4조")[0], "약관 > 제3조(보상하는 재산)")


@pytest.mark.parametrize("answer", ["The policy does not say.", "약관에 해당 내용이 없습니다.", "해당 내용이 약관에 명시되어 있지 않습니다.",
                                    "I cannot find this in the provided clauses.", "The clauses do not mention a waiting period."])
def test_refusals_are_recognised_in_english_and_korean(lexical, answer):
    assert lexical.score(answer, CONTEXT).verdict == "refused"


def test_refusal_detector_is_configurable():
    detector = RefusalDetector([r"\bno idea\b"])
    assert detector.matches("I have no idea.") and not detector.matches("The policy does not say.")


def test_an_unsupported_sentence_appended_is_caught(lexical):
    answer = "Coverage D pays up to $30,000. The insurer also pays hotel bills for two weeks."
    result = lexical.score(answer, CONTEXT)
    assert result.verdict == "hallucinated"
    # word-level: what the clauses lack, not the sentence ("insurer" and "pays" are in them)
    assert [s["text"] for s in result.spans(answer)] == ["hotel bills for two weeks"]


def test_korean_claims_and_numbers(lexical):
    ctx = ["제10조(손해 발생 시 보험계약자의 의무)\n4. 손해 발생일부터 60일 이내에 손해증명서를 회사에 제출할 것."]
    assert lexical.score("손해증명서는 손해 발생일부터 60일 이내에 제출해야 합니다.", ctx).verdict == "supported"
    assert lexical.score("손해증명서는 손해 발생일부터 90일 이내에 제출해야 합니다.", ctx).verdict == "hallucinated"
    assert [c.text for c in split_claims("제10조에 따르면 60일입니다. 다만 연장은 없습니다.")] == ["제10조에 따르면 60일입니다.", "다만 연장은 없습니다."]


def test_correctness_against_gold():
    assert token_f1("the deductible is doubled", "the deductible is doubled") == 1.0
    assert token_f1("sixty days", "60 days") == pytest.approx(0.5)
    assert numeric_agreement("You have sixty days.", "Within 60 days after the loss.") == 1.0
    assert numeric_agreement("You have 90 days.", "Within 60 days after the loss.") == 0.0
    assert numeric_agreement("Yes.", "No gold numbers here") is None
    assert key_fact_coverage("Coverage D pays $30,000.", "Up to $30,000 under Coverage D.") == 1.0
    assert key_fact_coverage("Yes, it is covered.", "No. It is excluded.") == 0.0
    assert correctness("anything", None) == {"token_f1": None, "numeric_agreement": None, "key_fact_coverage": None}


def test_calibration_metrics_on_known_values():
    labels = [True, True, False, False, True, False]
    predicted = [True, False, False, True, True, False]
    m = binary_metrics(labels, predicted)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 2)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["kappa"] == pytest.approx(1 / 3)  # po = 4/6, pe = 1/2
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, True, False, False], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)
    assert roc_auc([True], [0.5]) is None
    # probs of hallucination; the best support threshold separates 0.9/0.8 from 0.3/0.1
    t = choose_threshold([True, True, False, False], [0.9, 0.8, 0.3, 0.1])
    assert 0.2 < t <= 0.7


@pytest.mark.parametrize("text, restates", [
    ("You're asking whether a boat is covered.", True),
    ("So you want to know how long the appraisers have.", True),
    ("The question is what anchoring III.A.6 requires.", True),
    ("Who is 'you' under the Dwelling Form?", True),
    ("질문하신 내용은 보험금 지급 시기입니다.", True),
    ("The policy pays up to $1,000 for removal.", False),
    ("You must file the proof of loss within 60 days.", False),
    ("The question of ownership is settled by VII.B.", False),
])
def test_restatements_of_the_question_are_recognised(text, restates):
    from harness.scoring.text import is_restatement

    assert is_restatement(text) is restates


def test_a_restated_question_is_not_scored_as_a_claim():
    from harness.scoring.scorer import ScoreConfig, Scorer

    context = ["VII.M. The two appraisers will choose an umpire. If they cannot agree within 15 days, "
               "you or we may ask a judge of a court of record to choose an umpire."]
    scorer = Scorer(ScoreConfig(use_embeddings=False))
    answer = "You're asking how long the appraisers get to settle on an umpire. They have 15 days."
    result = scorer.score(answer, context)
    assert [c.kind for c in result.claims] == ["restatement", "claim"]
    invented = scorer.score("You're asking how long the appraisers get. They have 45 days.", context)
    assert invented.verdict == "hallucinated"  # the restatement does not shield the invented number


@pytest.mark.parametrize("text, refuses", [
    ("These excerpts don't mention medical coverage.", True),
    ("The clauses shown do not address rental cars.", True),
    ("Nothing in these clauses speaks to pets.", True),
    ("There's nothing here about carbon monoxide.", True),
    ("They say nothing about life insurance.", True),
    ("I can't answer that from this text.", True),
    ("The policy doesn't mention a waiting period.", True),
    ("이 조항들은 반려동물을 다루지 않습니다.", True),
    ("The policy does not cover mold damage.", False),      # an exclusion: an answer, not a refusal
    ("Coverage does not include cars.", False),
    ("The policy pays up to $1,000.", False),
    ("It does not cover cars.", False),
])
def test_refusals_in_natural_words(text, refuses):
    from harness.scoring.refusal import RefusalDetector

    assert RefusalDetector().matches(text) is refuses


def test_a_refusal_that_describes_the_text_is_a_refusal_unless_it_invents():
    from harness.scoring.scorer import ScoreConfig, Scorer

    context = ["III.C.2.a. We will pay up to $1,000 for sandbags, supplies and labor to protect the building from flood."]
    scorer = Scorer(ScoreConfig(use_embeddings=False))
    declined = scorer.score("These clauses cover sandbags, supplies and labor to protect the building from flood. "
                            "These excerpts don't mention medical costs.", context)
    assert declined.verdict == "refused"
    inventing = scorer.score("These excerpts don't mention medical costs. The policy pays $7,500 for injuries.", context)
    assert inventing.verdict == "hallucinated"
