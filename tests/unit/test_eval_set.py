from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.eval_set import load_eval_set
from tests.conftest import STARTER

GOOD = {"id": "q1", "question": "What is covered?", "answerable": True, "gold_answer": "A building.",
        "evidence": [{"document_id": "sfip_dwelling", "start": 0, "end": 10}], "category": "definition",
        "split": "dev", "language": "en"}


def test_starter_set_is_a_valid_demo_slice():
    items = load_eval_set(STARTER)
    assert len(items) >= 20
    assert sum(not it.answerable for it in items) >= 4
    assert {it.split for it in items} == {"dev"}  # settings are chosen on dev, never on test
    assert {ev.document_id for it in items for ev in it.evidence} == {
        "sfip_dwelling", "sfip_general_property", "sfip_rcbap"}


def _write(tmp_path, rows: list[str]):
    p = tmp_path / "set.jsonl"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p


def _line(**changes) -> str:
    obj = {**GOOD, **changes}
    for k in [k for k, v in changes.items() if v is ...]:
        del obj[k]
    return json.dumps(obj)


@pytest.mark.parametrize("bad_line, message", [
    ('{"id": "q2", "question": ', "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (_line(id="q2", question=...), "missing field(s): question"),
    (_line(id="q2", questoin="typo"), "unknown field(s): questoin"),
    (_line(id="q2", split="validation"), "'split' must be one of train, dev, test"),
    (_line(id="q2", language="fr"), "'language' must be one of en, ko"),
    (_line(id="q2", answerable="yes"), "'answerable' must be true or false"),
    (_line(id="q2", gold_answer=None), "needs a non-empty 'gold_answer'"),
    (_line(id="q2", evidence=[{"document_id": "d", "start": 5, "end": 5}]), "0 <= start < end"),
    (_line(id="q2", evidence=[{"document_id": "d", "start": 0}]), "exactly document_id, start, end"),
    (_line(), "duplicate id 'q1' (first on line 1)"),
])
def test_malformed_line_is_reported_at_file_and_line(tmp_path, bad_line, message):
    path = _write(tmp_path, [_line(), bad_line])
    with pytest.raises(HarnessError) as e:
        load_eval_set(path)
    assert str(e.value).startswith(f"{path}:2: ")
    assert message in str(e.value)


def test_blank_lines_are_allowed_but_an_empty_set_is_not(tmp_path):
    assert len(load_eval_set(_write(tmp_path, ["", _line(), ""]))) == 1
    with pytest.raises(HarnessError, match="no questions"):
        load_eval_set(_write(tmp_path, [""]))
    with pytest.raises(HarnessError, match="file not found"):
        load_eval_set(tmp_path / "nope.jsonl")


def test_unanswerable_needs_no_gold(tmp_path):
    items = load_eval_set(_write(tmp_path, [_line(answerable=False, gold_answer=None, evidence=[])]))
    assert items[0].to_dict() == {**GOOD, "answerable": False, "gold_answer": None, "evidence": []}
