"""The shipped eval sets: valid, meeting the eval-set issue's minimums, and equal to their sources."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from harness.eval_set import load_eval_set
from harness.validate import CorpusLookup, SetRequirements, validate_set

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO / "eval_sets" / "corpora"
SOURCES = sorted((REPO / "eval_sets").glob("*/*.src.yaml"))
SHIPPED = sorted(p for p in (REPO / "eval_sets").glob("*/*.jsonl"))


def _builder():
    spec = importlib.util.spec_from_file_location("build_set", REPO / "eval_sets" / "tools" / "build_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_shipped_jsonl_equals_a_rebuild_from_source(source):
    builder = _builder()
    outputs = builder.build(source, root=REPO)
    for path, records in outputs.items():
        assert path.read_text(encoding="utf-8") == builder.to_jsonl(records), f"{path} is stale: rebuild it"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_set_validates(path):
    report = validate_set(path, CorpusLookup([CORPORA]), stop_at_first=False)
    assert report.ok, [str(e) for e in report.errors]


def test_english_set_meets_the_minimums():
    path = REPO / "eval_sets" / "sfip" / "questions.jsonl"
    report = validate_set(path, CorpusLookup([CORPORA]),
                          SetRequirements(min_per_category=15, min_unanswerable=0.25, min_train=0.5))
    assert report.ok, [str(e) for e in report.errors]
    assert len(report.items) >= 250
    categories = {"numeric_limit", "time_period", "definition", "exclusion", "condition", "scenario",
                  "multi_clause", "form_difference", "unanswerable"}
    assert set(report.counts()) == categories
    for counts in report.counts().values():
        assert counts["train"] >= counts["dev"] and counts["train"] >= counts["test"]
    ids = [it.id for it in report.items]
    kinds = {re.sub(r"-\d+$", "", i) for i in ids if i.startswith("un-")}
    assert kinds == {"un-off", "un-abs", "un-trap"}  # the three kinds of unanswerable question


def _source_quotes(source: Path) -> dict[str, list[str]]:
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    quotes = {}
    for inc in spec.get("include", []):
        for q in yaml.safe_load((source.parent / inc).read_text(encoding="utf-8")):
            quotes[q["id"]] = [ev[1] for ev in q.get("evidence") or []]
    return quotes


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_evidence_span_quotes_the_corpus(path):
    sources = list(path.parent.glob("*.src.yaml"))
    quotes = _source_quotes(sources[0]) if sources else {}
    lookup = CorpusLookup([CORPORA])
    for item in load_eval_set(path):
        for i, ev in enumerate(item.evidence):
            text = lookup.text(ev.document_id)
            span = text[ev.start:ev.end]
            assert span.strip() == span and len(span) >= 10, (item.id, span)
            # Spans start and end on word boundaries, never inside a word.
            assert ev.start == 0 or not (text[ev.start - 1].isalnum() and span[0].isalnum()), (item.id, span[:30])
            assert ev.end == len(text) or not (text[ev.end].isalnum() and span[-1].isalnum()), (item.id, span[-30:])
            if item.id in quotes:
                assert span == quotes[item.id][i]  # the author's quote, exactly
        if item.answerable:
            assert item.evidence, f"{item.id}: an answerable question needs evidence"
