from __future__ import annotations

import pytest

from harness.prompts import (REFUSAL, Clause, build_messages, is_exact_refusal, prompt_hash, render_plain,
                             render_prompt)
from training.data import rag_example

CLAUSES = [Clause("B. In each loss from flood, separate deductibles apply.", "Dwelling Form > VI. Deductibles"),
           Clause("4. Within 60 days after the loss, send us a proof of loss.", "Dwelling Form > VII. G.")]


def test_messages_hold_instruction_numbered_clauses_and_question():
    system, user = build_messages("  How long for proof of loss? ", CLAUSES)
    assert system["role"] == "system" and REFUSAL["en"] in system["content"]
    assert user["role"] == "user"
    assert user["content"] == (
        "[Policy clauses]\n\n[1] Dwelling Form > VI. Deductibles\nB. In each loss from flood, separate deductibles apply."
        "\n\n[2] Dwelling Form > VII. G.\n4. Within 60 days after the loss, send us a proof of loss."
        "\n\nQuestion: How long for proof of loss?")


def test_korean_prompt_uses_korean_labels_and_refusal():
    system, user = build_messages("보험금은 언제 지급됩니까?", [Clause("제5조(지급) 30일 이내에 지급합니다.")], "ko")
    assert "약관에 해당 내용이 없습니다." in system["content"]
    assert user["content"].startswith("[보험약관]") and "질문: 보험금은 언제 지급됩니까?" in user["content"]


def test_prompt_hash_is_stable_and_sensitive():
    a = build_messages("q", CLAUSES)
    assert prompt_hash(a) == prompt_hash(build_messages("q", CLAUSES))
    assert prompt_hash(a) != prompt_hash(build_messages("q", CLAUSES[:1]))
    assert prompt_hash(a).startswith("b2:")


@pytest.mark.parametrize("answer, language, expected", [
    ("The policy does not say.", "en", True),
    ("  the policy does not say ", "en", True),
    ('"The policy does not say."', "en", True),
    ("The policy does not say whether mold is covered.", "en", False),
    ("Under VII.G, the policy does not say.", "en", False),
    ("약관에 해당 내용이 없습니다.", "ko", True),
    ("약관에 해당 내용이 없습니다", "ko", True),
    ("약관에 해당 내용이 없습니다. 다만 제3조에 따르면", "ko", False),
    ("The policy does not say.", "ko", False),
])
def test_exact_refusal(answer, language, expected):
    assert is_exact_refusal(answer, language) is expected


def test_unsupported_language_is_an_error():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="unsupported language 'fr'"):
        build_messages("q", CLAUSES, "fr")


def test_plain_layout_for_tokenizers_without_chat_template():
    text = render_plain(build_messages("q?", CLAUSES, "ko"), "ko")
    assert text.startswith("### 지시\n") and "\n### 입력\n[보험약관]" in text and text.endswith("### 출력\n")

    class NoTemplate:
        chat_template = None

    assert render_prompt(build_messages("q?", CLAUSES), NoTemplate()).startswith("### Instruction\n")


def test_chat_template_of_the_real_tokenizer(tokenizer):
    text = render_prompt(build_messages("q?", CLAUSES), tokenizer)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert "Question: q?" in text


def test_training_examples_use_the_eval_prompt():
    ex = rag_example("How long for proof of loss?", CLAUSES, "Within 60 days after the loss (VII.G.4).")
    assert ex["prompt"] == build_messages("How long for proof of loss?", CLAUSES)
    assert ex["completion"] == [{"role": "assistant", "content": "Within 60 days after the loss (VII.G.4)."}]
    assert rag_example("Is hail covered?", CLAUSES, None, "ko")["completion"][0]["content"] == REFUSAL["ko"]
