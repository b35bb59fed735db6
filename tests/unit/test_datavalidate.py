"""`harness data validate`: each filter on records whose verdict is known, English and Korean;
the counts table; the merged file and the rejects file; `data build --extra`."""

from __future__ import annotations

import json

import pytest

from training.validate import FILTERS, first_failure, format_table, validate_files, validate_records


def rec(question="What is the waiting period?", answer="The waiting period is 30 days.", kind="fact", **kw):
    return {"instruction": question, "input": "Clause text.", "output": answer, "type": kind, **kw}


@pytest.mark.parametrize("record, verdict", [
    (rec(), None),
    (rec(answer="보험금은 손해증명서를 받은 날부터 60일 이내에 지급합니다."), None),
    (rec(answer="네, 지하실의 세탁기는 보상됩니다"), None),  # a final ending without punctuation is complete
    (rec(answer="Is it covered? Yes, up to $2,500 per loss!"), None),
    (rec(answer="The policy does not say."), None),  # the refusal target: short, and meant to be there
    (rec(answer="약관에 해당 내용이 없습니다."), None),
    ({"instruction": "Q?", "output": "An answer that is long enough."}, "fields"),
    (rec(question="   "), "fields"),
    (rec(answer=None), "fields"),
    ("not an object", "fields"),
    (rec(answer="30 days."), "short"),
    (rec(answer="60일입니다."), "short"),
    (rec(answer="The waiting period is 30 days and it applies to"), "incomplete"),
    (rec(answer="보험금은 손해증명서를 받은 날부터 60일 이내에 지급하며"), "incomplete"),
    (rec(answer="As an AI language model, I cannot give legal advice."), "evasive"),
    (rec(answer="I'm not sure what the policy says about that."), "evasive"),
    (rec(answer="죄송하지만 그 내용은 잘 모르겠습니다."), "evasive"),
    (rec(answer="그 질문에는 답변을 드릴 수 없습니다."), "evasive"),
])
def test_each_filter_on_records_with_known_verdicts(record, verdict):
    assert first_failure(record, set()) == verdict


def test_duplicates_ignore_case_spacing_and_punctuation():
    seen: set[str] = set()
    assert first_failure(rec(question="What is the waiting period?"), seen) is None
    assert first_failure(rec(question="what is the  waiting period"), seen) == "duplicate"
    assert first_failure(rec(question="대기 기간은 얼마입니까?"), seen) is None
    assert first_failure(rec(question="대기기간은 얼마입니까"), seen) == "duplicate"
    assert first_failure(rec(question="What is the waiting period for a new policy?"), seen) is None


def test_validate_files_writes_kept_and_rejects_and_counts(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        rec(), rec(question="Q2?", answer="Short."), rec(question="Q3?", kind="scenario",
                                                         answer="You are covered if the water came from a flood.")]) + "\n",
                 encoding="utf-8")
    b.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        rec(),  # a duplicate of a.jsonl's first
        rec(question="Q4?", kind="easy", answer="모르겠습니다, 약관을 확인하세요.")]) + "\n", encoding="utf-8")
    out = tmp_path / "merged.jsonl"
    result = validate_files([a, b], out)
    assert result.read == 5 and len(result.kept) == 2
    assert dict(result.counts) == {"short": 1, "duplicate": 1, "evasive": 1}
    assert dict(result.by_type) == {"fact": 1, "scenario": 1}
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [k["instruction"] for k in kept] == ["What is the waiting period?", "Q3?"]
    rejects = [json.loads(line) for line in (tmp_path / "merged.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["reason"], r["where"]) for r in rejects] == [("short", f"{a}:2"), ("duplicate", f"{b}:1"),
                                                            ("evasive", f"{b}:2")]
    table = format_table(result)
    for name in FILTERS:
        assert name in table
    assert "kept" in table and "scenario" in table


def test_a_bad_line_is_named(tmp_path):
    from harness.errors import HarnessError

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rec()) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="bad.jsonl:2"):
        validate_files([bad], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()  # nothing half-written


def test_validate_records_counts_every_record():
    result = validate_records([("x:1", rec()), ("x:2", rec()), ("x:3", {"instruction": 1})])
    assert result.read == 3 and len(result.kept) == 1 and sum(result.counts.values()) == 2
