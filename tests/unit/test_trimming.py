from __future__ import annotations

import dataclasses

import pytest

from harness.config import StopConfig
from harness.trimming import (DEFAULT_STOP_PHRASES, RULES, Cut, find_cuts, sentences, stop_phrases,
                              suggest_stops, trim)

CFG = StopConfig()
NO_PHRASES = StopConfig(default_phrases=False)
KO_ANSWER = "제3조에 따르면 보험금은 30일 이내에 지급됩니다."


def cut_at(text: str, language: str, cfg: StopConfig, at: str | int, rule: str, kept: str, match: str | None = None):
    """Assert that `text` is cut by `rule` at offset `at` (or where the string `at` first starts),
    keeping exactly `kept`."""
    trimmed, cut = trim(text, language, cfg)
    assert cut is not None, f"no cut in {text!r}"
    assert (trimmed, cut.rule, cut.offset) == (kept, rule, text.index(at) if isinstance(at, str) else at)
    if match is not None:
        assert cut.match == match
    return cut


def test_defaults_and_rules_are_as_documented():
    assert DEFAULT_STOP_PHRASES["ko"] == ("이번에 새로 나온", "Este es", "Ich möchte", "이번엔", "이번에")
    assert DEFAULT_STOP_PHRASES["en"] == ("\nQuestion:", "\n[", "In Witness Whereof")
    assert RULES == ("phrase", "new_turn", "script_switch", "repetition")
    assert Cut("phrase", 3, "Este es").to_dict() == {"rule": "phrase", "offset": 3, "match": "Este es"}


# --- phrase ---------------------------------------------------------------------------------

def test_korean_answer_continuing_in_spanish_is_cut_by_phrase_or_else_by_script_switch():
    text = KO_ANSWER + " Este es un seguro muy bueno."
    cut_at(text, "ko", CFG, "Este", "phrase", KO_ANSWER, match="Este es")
    cut_at(text, "ko", NO_PHRASES, "Este", "script_switch", KO_ANSWER, match="Este es un seguro muy bueno.")


@pytest.mark.parametrize("tail, match", [
    ("이번에 새로 나온 상품은 더 좋습니다.", "이번에 새로 나온"),  # the longest phrase at that offset
    ("Ich möchte noch etwas sagen.", "Ich möchte"),
    ("이번엔 다른 질문을 해 보겠습니다.", "이번엔"),
    ("이번에 출시된 상품도 있습니다.", "이번에"),
])
def test_each_seed_korean_phrase_cuts(tail, match):
    text = f"{KO_ANSWER}\n{tail}"
    cut_at(text, "ko", CFG, tail, "phrase", KO_ANSWER, match=match)


def test_phrase_may_cut_at_offset_zero_like_the_seed():
    assert trim("이번에 새로 나온 상품입니다.", "ko", CFG) == ("", Cut("phrase", 0, "이번에 새로 나온"))


def test_english_phrases_cut_dev_style_tails():
    # v1 dw-023 on the dev split: an invented next question.
    text = ("1. The policy will remain in effect for 12 months after the end of the policy term.\n\n"
            "Question: If you cancel or cancel your policy, how long will it take to pay?")
    cut_at(text, "en", CFG, "\nQuestion:", "phrase", text.split("\n")[0], match="\nQuestion:")
    # v1 un-trap-015: an echoed clause header of the prompt.
    text = ("The maximum amount of personal property limit is $100,000.\n\n[6] Residential Condominium "
            "Building Association Policy > III. Property Insured > D. Coverage D")
    cut_at(text, "en", CFG, "\n[6]", "phrase", "The maximum amount of personal property limit is $100,000.")
    # v2 un-off-013: the policy's closing boilerplate copied after a quoted clause.
    text = "The policy is governed by Federal common law.\n\nIn Witness Whereof, we have signed this policy."
    cut_at(text, "en", CFG, "In Witness", "phrase", "The policy is governed by Federal common law.")


def test_phrases_are_case_sensitive_and_a_leading_header_is_kept():
    assert trim("Under VII.G the question: is moot. See in witness whereof.", "en", CFG)[1] is None
    text = "[1] Dwelling Form > VII. G.\nYou must send us a proof of loss within 60 days."
    assert trim(text, "en", CFG) == (text, None)


def test_extra_phrases_apply_to_every_language_and_are_deduplicated():
    cfg = StopConfig(phrases=("Note:", "이번에", "Note:", ""))
    assert stop_phrases("ko", cfg) == ["이번에 새로 나온", "Este es", "Ich möchte", "이번엔", "이번에", "Note:"]  # order kept
    assert stop_phrases("en", cfg) == ["\nQuestion:", "\n[", "In Witness Whereof", "Note:", "이번에"]
    assert stop_phrases("fr", cfg) == ["Note:", "이번에"]  # no defaults for other languages
    assert stop_phrases("en", StopConfig(default_phrases=False)) == []
    text = "The deductible is $1,000. Note: this is a guess."
    cut_at(text, "en", cfg, "Note:", "phrase", "The deductible is $1,000.", match="Note:")
    cut_at(KO_ANSWER + " Note: 참고", "ko", cfg, "Note:", "phrase", KO_ANSWER)


# --- new_turn -------------------------------------------------------------------------------

@pytest.mark.parametrize("turn", [
    "Question: What is the deductible?", "**Question:** What else?", "Q: why?", "User: thanks",
    "Human: more", "Assistant: sure", "Answer: 90 days.", "### Instruction", "<|im_start|>user",
    "user", "assistant",
])
def test_new_turn_cuts_at_the_start_of_the_line(turn):
    text = f"You must file within 60 days under VII.G.\n\n{turn}\nMore text."
    cut_at(text, "en", NO_PHRASES, turn, "new_turn", "You must file within 60 days under VII.G.")


def test_new_turn_korean_and_template_residue_mid_line():
    text = KO_ANSWER + "\n질문: 보험료는 얼마입니까?"
    cut_at(text, "ko", CFG, "질문:", "new_turn", KO_ANSWER)
    text = "The deductible is $500.<|im_end|>\n<|im_start|>user"
    cut_at(text, "en", CFG, "<|im_end|>", "new_turn", "The deductible is $500.")


def test_answer_label_at_the_start_is_the_answer_itself():
    assert trim("Answer: 90 days.", "en", CFG) == ("Answer: 90 days.", None)
    assert trim("답변: 제5조에 따르면 30일입니다.", "ko", CFG)[1] is None
    text = "Answer: 90 days.\nAnswer: 90 days again"
    cut_at(text, "en", CFG, "Answer: 90 days again", "new_turn", "Answer: 90 days.")


# --- script_switch ---------------------------------------------------------------------------

@pytest.mark.parametrize("tail", [
    "Este es un seguro muy bueno para la casa.",
    "Der Selbstbehalt ist nicht hoch und wird gezahlt.",
    "Le montant est payé dans les trente jours.",
    "공제액은 1000달러입니다.",
    "Страховое возмещение выплачивается быстро.",
])
def test_english_answer_switching_language(tail):
    text = f"The deductible is $1,000 under VI.B. {tail}"
    cut_at(text, "en", NO_PHRASES, tail, "script_switch", "The deductible is $1,000 under VI.B.")


@pytest.mark.parametrize("tail", ["This is a good policy for you.", "保险金将在30天内支付。",
                                  "Страховое возмещение выплачивается."])
def test_korean_answer_switching_script(tail):
    text = KO_ANSWER + tail  # also without a space after "다."
    cut_at(text, "ko", NO_PHRASES, tail, "script_switch", KO_ANSWER)


# --- repetition ------------------------------------------------------------------------------

def test_repeated_sentence_keeps_one_copy():
    text = "The policy pays for sandbags. The only exception is fraud. The only exception is fraud."
    cut_at(text, "en", CFG, text.rindex("The only"), "repetition",
           "The policy pays for sandbags. The only exception is fraud.")
    text = KO_ANSWER + " 청구는 서면으로 합니다. 청구는 서면으로 합니다."
    kept = KO_ANSWER + " 청구는 서면으로 합니다."
    assert trim(text, "ko", CFG) == (kept, Cut("repetition", len(kept) + 1, "청구는 서면으로 합니다."))
    # The same words three times in a row are a loop even when the first copy ends a longer sentence.
    text = KO_ANSWER + " 보험금은 30일 이내에 지급됩니다. 보험금은 30일 이내에 지급됩니다."
    cut_at(text, "ko", CFG, len(KO_ANSWER) + 1, "repetition", KO_ANSWER)


def test_repeated_list_item_is_cut_at_its_line_with_its_marker():
    text = ("1. You must send a proof of loss.\n2. You must pay us back first.\n"
            "3. You must pay us back first.\n4. You must pay us back first.")
    cut_at(text, "en", CFG, "3.", "repetition", "1. You must send a proof of loss.\n2. You must pay us back first.")


def test_ngram_loop_inside_one_sentence():
    text = "The Dwelling Form defines the property in which the" + " insured and" * 6
    cut_at(text, "en", CFG, text.index("insured") + len("insured and "), "repetition",
           "The Dwelling Form defines the property in which the insured and")  # one "insured and insured and" kept
    text = "The answer is yes. The answer is 4. The answer is 4. The answer is 4."
    cut_at(text, "en", CFG, text.index("The answer is 4.", 20), "repetition", "The answer is yes. The answer is 4.")


# --- what must not be cut --------------------------------------------------------------------

@pytest.mark.parametrize("text, language", [
    ("The Question of coverage is settled under VII.G: the insurer pays within 60 days.", "en"),
    ("RCBAP의 Dwelling Form 약관에 따르면 보험금은 30일 이내에 지급됩니다. 제5조를 참고하세요.", "ko"),
    ("- Yes.\n- Yes.\n- No.", "en"),
    ("Flood damage is covered. Flood damage to the basement is limited. Flood damage outside is not.", "en"),
    ("We pay the cost of the repair, the cost of the cleanup, and the cost of the testing.", "en"),
    ("The policy expires at 12:01 a.m. on the last day. It can be renewed within 30 days.", "en"),
    ("The policy does not say.", "en"),
    ("약관에 해당 내용이 없습니다.", "ko"),
])
def test_genuine_answers_are_not_cut(text, language):
    assert find_cuts(text, language, CFG) == []
    assert trim(f"  {text}\n", language, CFG) == (text, None)


def test_structural_rules_never_cut_to_nothing():
    for text, language in [("Question: what is covered?", "en"), ("\n\n  user\nhello", "en"),
                           ("Este es un seguro muy bueno. 보험금은 지급됩니다.", "ko"),
                           ("공제액은 1000달러입니다. The deductible is $1,000.", "en")]:
        assert [c for c in find_cuts(text, language, NO_PHRASES) if c.offset == 0] == []


# --- switches and ordering -------------------------------------------------------------------

@pytest.mark.parametrize("flag, text, language", [
    ("default_phrases", KO_ANSWER + " 이번에 새로 나온 상품.", "ko"),
    ("new_turn", "The deductible is $500.\n\nQ: and the limit?", "en"),
    ("script_switch", "The deductible is $500. Este es un seguro muy bueno.", "en"),
    ("repetition", "The deductible is $500. The deductible is $500.", "en"),
])
def test_each_flag_disables_its_rule(flag, text, language):
    rule = "phrase" if flag == "default_phrases" else flag
    assert [c.rule for c in find_cuts(text, language, CFG)] == [rule]
    off = dataclasses.replace(CFG, **{flag: False})
    assert find_cuts(text, language, off) == [] and trim(text, language, off) == (text, None)


def test_earliest_rule_wins_and_ties_follow_rules_order():
    text = "The deductible is $500. The deductible is $500.\n\nQuestion: What else?"
    cuts = find_cuts(text, "en", CFG)
    assert [c.rule for c in cuts] == ["repetition", "phrase", "new_turn"]
    assert trim(text, "en", CFG) == ("The deductible is $500.", cuts[0])
    tie = KO_ANSWER + " Este es un seguro muy bueno."  # phrase and script_switch both at "Este"
    assert [(c.rule, c.offset) for c in find_cuts(tie, "ko", CFG)] == [("phrase", 29), ("script_switch", 29)]
    tie = "The deductible is $500.\n질문: 보험금은 언제 지급됩니까?"  # new_turn and script_switch
    assert [c.rule for c in find_cuts(tie, "en", CFG)] == ["new_turn", "script_switch"]


def test_other_languages_get_structural_rules_only():
    text = "The deductible is $500. Este es un seguro muy bueno.\nQuestion: more?"
    assert [c.rule for c in find_cuts(text, "fr", CFG)] == ["script_switch", "new_turn"]


def test_sentences_keep_markers_out_and_labels_in():
    assert sentences("1. We pay. See VII. G.\n## X. What Law Governs") == [
        (0, "We pay."), (11, "See VII. G."), (23, "X. What Law Governs")]


# --- suggest_stops ---------------------------------------------------------------------------

def test_suggest_stops_counts_tails_and_answers():
    records = [
        {"item_id": "a", "model": "base", "language": "en",
         "raw_answer": "The deductible is $500.\n\nQuestion: What is covered?"},
        {"item_id": "b", "model": "v1", "language": "en",
         "raw_answer": "Coverage A pays for the building.\n\nQuestion: Who pays?"},
        {"item_id": "c", "model": "v2", "language": "en", "raw_answer": "The policy does not say. Question: maybe?"},
        {"item_id": "d", "model": "v2", "language": "en", "raw_answer": "The Question form is separate."},
        {"item_id": "e", "model": "v1", "language": "ko", "raw_answer": KO_ANSWER + " Este es un seguro muy bueno."},
        {"item_id": "f", "model": "v1", "language": "ko", "raw_answer": "약관에 해당 내용이 없습니다. Este es otro."},
    ]
    got = suggest_stops(records)
    assert [(r["phrase"], r["kind"], r["count"], r["in_answers"]) for r in got] == [
        ("Question", "new_turn", 3, 1),  # "Question" also occurs in record d's answer
        ("Este", "script_switch", 2, 0),  # "Este es" has the same counts: dropped as redundant
    ]
    assert got[0]["examples"] == [{"item_id": "a", "model": "base", "tail": "Question: What is covered?"},
                                  {"item_id": "b", "model": "v1", "tail": "Question: Who pays?"},
                                  {"item_id": "c", "model": "v2", "tail": "Question: maybe?"}]
    assert suggest_stops(records, min_count=3) == got[:1] and suggest_stops(records, top=1) == got[:1]
    assert {r["phrase"] for r in suggest_stops(records, min_count=1)} >= {"Este es un", "Question: What"}
