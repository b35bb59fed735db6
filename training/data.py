"""Training examples in TRL's conversational prompt-completion form.

The prompt comes from `harness.prompts.build_messages`, the very function `harness eval`
uses, so a model is trained on exactly the prompt layout it is evaluated with.
"""

from __future__ import annotations

from typing import Sequence

from harness.errors import HarnessError
from harness.prompts import REFUSAL, Clause, build_messages


def rag_example(question: str, clauses: Sequence[Clause], answer: str | None, language: str = "en") -> dict:
    """One v2-style example: instruction + clauses + question -> grounded answer.
    `answer=None` means the clauses do not answer the question: the target is the refusal."""
    target = REFUSAL[language] if answer is None else answer.strip()
    if not target:
        raise HarnessError("a training answer must not be empty")
    return {
        "prompt": build_messages(question, clauses, language),
        "completion": [{"role": "assistant", "content": target}],
    }
