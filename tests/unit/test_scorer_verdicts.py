"""Verdicts of the default scorer (shipped combiner, embeddings on) on answers whose right
verdict is known: the fluent forms a strong model writes, in English and Korean."""

from __future__ import annotations

import pytest

from harness.scoring.scorer import ScoreConfig, Scorer

ICC = ("Dwelling Form > III. Property Insured > D. Coverage D—Increased Cost of Compliance > 2. Limit of Liability\n"
       "We will pay you up to $30,000 under this Coverage D—Increased Cost of Compliance, which only applies to "
       "policies with building coverage (Coverage A). Our payment of claims under Coverage D is in addition to the amount "
       "of coverage which you selected on the application. We do not charge a separate deductible for a claim under Coverage D.")
PROOF = ("Dwelling Form > VII. General Conditions > G. Requirements in Case of Loss\n"
         "4. Within 60 days after the loss, send us a proof of loss, which is your statement of the amount you are claiming.")
CONTEXT = [ICC, PROOF]
QUESTION = "Under the Dwelling Form, what is the most that Coverage D—Increased Cost of Compliance will pay?"
KO_CONTEXT = ["표준홍수보험 주택용 약관 > 제6조(법규 준수 비용 증가 보상)\n② 회사가 이 조에 따라 지급하는 보험금은 30,000달러를 "
              "한도로 하며, 건물 보상(보상 A)이 있는 보험계약에만 적용됩니다. 이 조의 청구에는 별도의 자기부담금을 적용하지 않습니다."]
KO_QUESTION = "주택용 약관에서 법규 준수 비용 증가 보상의 한도는 얼마입니까?"


@pytest.fixture(scope="module")
def scorer():
    return Scorer(ScoreConfig())


def verdict(scorer, answer, context=CONTEXT, question=QUESTION):
    return scorer.score(answer, context, question=question)


def test_a_paraphrase_passes(scorer):
    result = verdict(scorer, "Increased Cost of Compliance coverage tops out at $30,000, and you can only get it "
                             "if your policy includes building coverage.")
    assert result.verdict == "supported", result.to_dict("")


def test_a_restated_question_passes(scorer):
    result = verdict(scorer, "You want to know the most that Coverage D—Increased Cost of Compliance will pay under "
                             "the Dwelling Form. It pays up to $30,000, on policies with building coverage.")
    assert result.verdict == "supported"
    assert result.claims[0].kind == "restatement"


def test_an_invented_fact_in_fluent_prose_is_caught_with_its_words(scorer):
    answer = ("Coverage D pays up to $30,000 on policies with building coverage, with no separate deductible. "
              "You also have to file the claim within 14 days of the flood.")
    result = verdict(scorer, answer)
    assert result.verdict == "hallucinated"
    spans = [s["text"] for s in result.spans(answer)]
    assert spans and all("14 days" in "".join(spans) or "file" in s for s in spans)
    assert not any("$30,000" in s for s in spans)  # the supported claim is not marked


def test_a_wrong_amount_is_caught_and_only_the_amount_is_marked(scorer):
    answer = "Coverage D—Increased Cost of Compliance pays up to $50,000, only on policies with building coverage."
    result = verdict(scorer, answer)
    assert result.verdict == "hallucinated"
    assert [s["text"] for s in result.spans(answer)] == ["$50,000"]


def test_a_korean_paraphrase_passes(scorer):
    result = verdict(scorer, "법규 준수 비용 증가 보상은 최대 30,000달러까지 받을 수 있으며, 건물 보상이 있는 계약에만 적용됩니다.",
                     KO_CONTEXT, KO_QUESTION)
    assert result.verdict == "supported"


def test_a_korean_wrong_amount_is_caught(scorer):
    answer = "법규 준수 비용 증가 보상은 최대 50,000달러까지 받을 수 있으며, 건물 보상이 있는 계약에만 적용됩니다."
    result = verdict(scorer, answer, KO_CONTEXT, KO_QUESTION)
    assert result.verdict == "hallucinated"
    assert "50,000달러" in "".join(s["text"] for s in result.spans(answer))


@pytest.mark.parametrize("answer", [
    "The policy excerpts provided don't mention rental car reimbursement.",
    "Nothing in these clauses speaks to rental cars, so I can't tell you from this text.",
    "제시된 약관 내용에는 렌터카 비용에 관한 규정이 보이지 않습니다.",
])
def test_refusals_in_natural_words_are_refusals(scorer, answer):
    assert verdict(scorer, answer, question="Does the policy pay for a rental car?").verdict == "refused"


def test_the_verdict_records_the_scorer_and_combiner_version(scorer):
    assert scorer.version.startswith("4/c:") and 0 < scorer.threshold < 1
