"""The one prompt builder, used by `harness eval` and by training-data builds alike, so the
prompts a model is trained on and the prompts it is evaluated on cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from harness.errors import HarnessError
from harness.io import content_hash

PROMPT_TEMPLATE_VERSION = 1

REFUSAL = {
    "en": "The policy does not say.",
    "ko": "약관에 해당 내용이 없습니다.",
}

INSTRUCTION = {
    "en": (
        "You answer questions about an insurance policy. Use only the [Policy clauses] given below. "
        "Base every statement on those clauses and do not guess. If the clauses do not answer the "
        f"question, reply with exactly this sentence and nothing else: {REFUSAL['en']} "
        "When you answer, name the clause you used, for example \"Under VII.G, ...\"."
    ),
    "ko": (
        "아래 제공된 [보험약관]만 참고하여 질문에 답변하세요. 약관에 명시된 내용에 근거하여 답변하고, "
        "추측하지 마세요. 약관에 없는 내용이면 다른 말 없이 이 문장으로만 답변하세요: "
        f"{REFUSAL['ko']} 답변할 때는 근거 조항을 밝히세요 (예: \"제3조에 따르면 ...\")."
    ),
}

_LABELS = {
    "en": {"clauses": "[Policy clauses]", "question": "Question:"},
    "ko": {"clauses": "[보험약관]", "question": "질문:"},
}

# Used when a tokenizer has no chat template: the seed's "### 지시 / ### 입력 / ### 출력" layout.
PLAIN_HEADERS = {
    "en": ("### Instruction", "### Input", "### Response"),
    "ko": ("### 지시", "### 입력", "### 출력"),
}


@dataclass(frozen=True)
class Clause:
    """A retrieved piece of the policy as the model sees it."""

    text: str
    label: str = ""  # breadcrumbs, e.g. "Dwelling Form > VII. General Conditions > G. Requirements in Case of Loss"


def check_language(language: str) -> str:
    if language not in REFUSAL:
        raise HarnessError(f"unsupported language {language!r} (supported: {', '.join(REFUSAL)})")
    return language


def build_messages(question: str, clauses: Sequence[Clause], language: str = "en") -> list[dict[str, str]]:
    """System instruction + user turn holding the numbered clauses and the question."""
    labels = _LABELS[check_language(language)]
    parts = [labels["clauses"]]
    for i, clause in enumerate(clauses, start=1):
        head = f"[{i}] {clause.label}".rstrip()
        parts.append(f"{head}\n{clause.text.strip()}")
    body = "\n\n".join(parts) + f"\n\n{labels['question']} {question.strip()}"
    return [{"role": "system", "content": INSTRUCTION[language]}, {"role": "user", "content": body}]


def prompt_hash(messages: list[dict[str, str]]) -> str:
    return content_hash({"v": PROMPT_TEMPLATE_VERSION, "messages": messages})


def render_plain(messages: list[dict[str, str]], language: str = "en") -> str:
    """The prompt for a tokenizer without a chat template; the answer follows the last header."""
    instruction, inp, response = PLAIN_HEADERS[check_language(language)]
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    user = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
    return f"{instruction}\n{system}\n{inp}\n{user}\n{response}\n"


def render_prompt(messages: list[dict[str, str]], tokenizer: Any, language: str = "en") -> str:
    """Text to tokenize: the tokenizer's chat template when it has one, else the plain layout."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return render_plain(messages, language)


def normalize_sentence(text: str) -> str:
    """Case, surrounding quotes/space and final punctuation do not matter when comparing sentences."""
    return " ".join(text.strip().strip("\"'“”‘’").rstrip(".。!").split()).casefold()


def is_exact_refusal(answer: str, language: str = "en") -> bool:
    """True when the whole answer is the refusal sentence (the only refusal the instruction allows)."""
    return normalize_sentence(answer) == normalize_sentence(REFUSAL[check_language(language)])
