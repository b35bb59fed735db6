from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.validate import CorpusLookup, SetRequirements, validate_set

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpora"
    (root / "a").mkdir(parents=True)
    (root / "a" / "policy.txt").write_text("## I. Agreement\n\nA. We pay for flood.\n\n   \n\nB. End.\n", encoding="utf-8")
    return root


def rec(i: int, **changes) -> str:
    obj = {"id": f"q{i}", "question": "What do you pay for?", "answerable": True, "gold_answer": "Flood.",
           "evidence": [{"document_id": "policy", "start": 17, "end": 36}], "category": "definition",
           "split": "train", "language": "en"}
    obj.update(changes)
    return json.dumps(obj)


BAD = {
    "bad JSON": ('{"id": "q9", ', "invalid JSON"),
    "missing field": (json.dumps({"id": "q9", "question": "x"}), "missing field(s): answerable"),
    "duplicate id": (rec(1), "duplicate id 'q1' (first on line 1)"),
    "span outside the document": (rec(10, evidence=[{"document_id": "policy", "start": 40, "end": 900}]), "past the end of policy"),
    "blank span": (rec(11, evidence=[{"document_id": "policy", "start": 37, "end": 43}]), "quotes only blank text"),
    "wrong split name": (rec(12, split="validation"), "'split' must be one of train, dev, test"),
    "unknown document": (rec(13, evidence=[{"document_id": "nope", "start": 0, "end": 5}]), "'nope' is not a file"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_kind_of_bad_record_exits_2_at_its_line(tmp_path, corpus, kind):
    bad_line, message = BAD[kind]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([rec(1), rec(2), bad_line, rec(3)]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate-set", str(path), "--corpus", str(corpus)])
    assert result.exit_code == 2
    assert f"{path}:3: " in result.stderr and message in result.stderr


def test_all_lists_every_bad_record(tmp_path, corpus):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([rec(1)] + [line for line, _ in BAD.values()]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate-set", str(path), "--corpus", str(corpus), "--all"])
    assert result.exit_code == 2
    for lineno, (_, message) in enumerate(BAD.values(), start=2):
        assert f"{path}:{lineno}: " in result.stderr and message in result.stderr
    assert f"({len(BAD)} errors)" in result.stderr


def test_good_set_prints_counts_and_requirements_are_enforced(tmp_path, corpus):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([rec(1), rec(2, split="dev"), rec(3, answerable=False, gold_answer=None, evidence=[],
                                                                 category="unanswerable", split="test")]) + "\n")
    result = CliRunner().invoke(cli, ["validate-set", str(path), "--corpus", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "3 questions, 2 answerable, 1 unanswerable (33.3%)" in result.stdout
    assert "definition              1      1      0      2" in result.stdout
    lookup = CorpusLookup([corpus])
    assert validate_set(path, lookup, SetRequirements(min_unanswerable=0.3)).ok
    short = validate_set(path, lookup, SetRequirements(min_per_category=2))
    assert "category 'unanswerable' has 1 questions, fewer than 2" in str(short.errors[0])
    assert not validate_set(path, lookup, SetRequirements(min_train=0.5)).ok
