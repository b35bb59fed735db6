"""The shipped eval sets: valid, meeting the eval-set issue's minimums, and equal to their sources."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from harness.config import ChunkConfig
from harness.eval_set import load_eval_set
from harness.validate import CorpusLookup, SetRequirements, validate_set
from retrieval.chunking import chunk_document

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO / "eval_sets" / "corpora"
SOURCES = sorted((REPO / "eval_sets").glob("*/*.src.yaml"))
SHIPPED = sorted(p for p in (REPO / "eval_sets").glob("*/*.jsonl") if p.name in ("questions.jsonl", "starter.jsonl"))


def _tool(name: str):
    tools = REPO / "eval_sets" / "tools"
    spec = importlib.util.spec_from_file_location(name, tools / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_set_folder_has_a_source_and_a_datasheet():
    folders = {p.parent for p in SHIPPED}
    assert {f.name for f in folders} == {"sfip", "sfip_ko", "injection"}
    for folder in folders:
        assert list(folder.glob("*.src.yaml")) and (folder / "README.md").is_file(), folder


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_shipped_files_equal_a_rebuild_from_source(source):
    if "cases" in yaml.safe_load(source.read_text(encoding="utf-8")):
        outputs = _tool("build_injection").build(source, root=REPO)
        for path, content in outputs.items():
            with open(path, encoding="utf-8", newline="") as f:
                assert f.read() == content, f"{path} is stale: rebuild it"
        return
    builder = _tool("build_set")
    for path, records in builder.build(source, root=REPO).items():
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
    quotes = {c["id"]: list(c.get("evidence") or []) for c in spec.get("cases", [])}
    for inc in spec.get("include", []):
        for q in yaml.safe_load((source.parent / inc).read_text(encoding="utf-8")):
            quotes[q["id"]] = [ev[1] for ev in q.get("evidence") or []]
    return quotes


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_evidence_span_quotes_the_corpus(path):
    sources = list(path.parent.glob("*.src.yaml"))
    quotes = _source_quotes(sources[0]) if sources else {}
    assert quotes, f"no source quotes for {path}"
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


def test_korean_set_meets_the_minimums():
    report = validate_set(REPO / "eval_sets" / "sfip_ko" / "questions.jsonl", CorpusLookup([CORPORA]),
                          SetRequirements(min_unanswerable=0.25))
    assert report.ok and len(report.items) >= 150
    assert {it.language for it in report.items} == {"ko"}
    # big enough to measure: >= 40 in the test split, every category in every split
    assert sum(it.split == "test" for it in report.items) >= 40
    categories = {it.category for it in report.items}
    for split in ("train", "dev", "test"):
        assert {it.category for it in report.items if it.split == split} == categories, split
    # questions in everyday words (ids ko-*-eNNN) sit in the dev split to tune on, and in test
    everyday = [it for it in report.items if re.search(r"-e\d+$", it.id)]
    assert len(everyday) >= 40 and {it.split for it in everyday} >= {"dev", "test"}
    translation = (CORPORA / "sfip_ko" / "sfip_dwelling_ko.txt").read_text(encoding="utf-8")
    assert len(translation) >= 15000
    assert "비공식 번역" in translation.split("\n\n")[1] and "퍼블릭 도메인" in translation.split("\n\n")[1]
    articles = re.findall(r"^제(\d+)조\(", translation, re.M)
    assert [int(a) for a in articles] == list(range(1, len(articles) + 1)) and len(articles) >= 20
    assert "①" in translation and "\n1. " in translation


def test_injection_cases_plant_hostile_text_inside_the_retrieved_clause():
    import json

    injections = [json.loads(line) for line in (REPO / "eval_sets" / "injection" / "injections.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = {it.id: it for it in load_eval_set(REPO / "eval_sets" / "injection" / "questions.jsonl")}
    assert len(injections) >= 20 and set(questions) == {i["id"] for i in injections}
    lookup = CorpusLookup([CORPORA])
    for inj in injections:
        text = lookup.text(inj["document_id"])
        assert text[inj["start"]:inj["end"]] == inj["text"]
        item = questions[inj["id"]]
        assert item.gold_answer is None or item.gold_answer.strip()
        # With the default chunking, the chunk that holds the answering clause holds the
        # hostile text too: retrieving the right clause delivers the attack.
        chunks = chunk_document(text, inj["document_id"], ChunkConfig())
        for ev in item.evidence[:1]:
            home = next(c for c in chunks if c.start <= ev.start < c.end)
            assert home.start <= inj["start"] and inj["end"] <= home.end, inj["id"]
    # The planted text never appears in the clean corpus.
    clean = "".join(lookup.text(d) for d in ("sfip_dwelling", "sfip_general_property", "sfip_rcbap"))
    assert not any(inj["text"] in clean for inj in injections)


def test_perturbation_set_equals_a_rebuild_and_is_labeled_by_kind():
    import json

    builder = _tool("build_perturbations")
    rows = builder.build()
    path = REPO / "eval_sets" / "labeled" / "perturbations.jsonl"
    assert path.read_text(encoding="utf-8") == builder.to_jsonl(rows), f"{path} is stale: rebuild it"
    faithful = {"gold", "extractive", "paraphrase", "refusal"}
    for row in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
        assert row["hallucinated"] == (row["kind"] not in faithful)
        assert row["id"].startswith(row["group"] + "/") and row["contexts"] and row["answer"]


def test_real_answer_labels_equal_a_rebuild_and_cover_150_answers():
    import json

    builder = _tool("build_real_labels")
    rows = builder.build()
    path = REPO / "eval_sets" / "labeled" / "real_answers.jsonl"
    assert path.read_text(encoding="utf-8") == builder.to_jsonl(rows), f"{path} is stale: rebuild it"
    assert len(rows) >= 150
    assert all(isinstance(r["hallucinated"], bool) and r["note"] and r["contexts"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    assert {json.loads(line)["split"] for line in (REPO / "eval_sets" / "sfip" / "questions.jsonl").read_text().splitlines()
            if json.loads(line)["id"] in {r["group"] for r in rows}} <= {"train", "dev"}  # never test questions


def test_fluent_answers_equal_a_rebuild_and_carry_their_spans():
    import json

    builder = _tool("build_fluent")
    rows = builder.build()
    path = REPO / "eval_sets" / "labeled" / "fluent_answers.jsonl"
    assert path.read_text(encoding="utf-8") == builder.to_jsonl(rows), f"{path} is stale: rebuild it"
    splits = {json.loads(line)["id"]: json.loads(line)["split"]
              for line in (REPO / "eval_sets" / "sfip" / "questions.jsonl").read_text(encoding="utf-8").splitlines()}
    assert len(rows) >= 150 and {splits[r["group"]] for r in rows} == {"train"}
    for r in rows:
        assert r["hallucinated"] == (r["kind"] in builder.HALLUCINATED)
        assert bool(r["spans"]) == r["hallucinated"]
        for s in r["spans"]:
            assert r["answer"][s["start"]:s["end"]] == s["text"] and len(s["text"]) < len(r["answer"]) + 1
    assert {r["kind"] for r in rows} >= {"paraphrase", "restating", "natural_refusal", "fabrication", "subtle_number"}


def test_fluent_build_refuses_bad_sources(tmp_path):
    import json

    builder = _tool("build_fluent")
    lines = (REPO / "eval_sets" / "sfip" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    train_id = next(json.loads(line)["id"] for line in lines if '"split": "train"' in line)
    dev_id = next(json.loads(line)["id"] for line in lines if '"split": "dev"' in line)
    src = tmp_path / "fluent_x.yaml"
    src.write_text(f"- question_id: {train_id}\n  answers:\n    - kind: subtle_number\n      answer: It pays $2,000.\n"
                   "      span: $3,000\n", encoding="utf-8")
    with pytest.raises(builder.BuildError, match=r"span '\$3,000' is not in the answer"):
        builder.build([src])
    src.write_text(f"- question_id: {dev_id}\n  answers: []\n", encoding="utf-8")
    with pytest.raises(builder.BuildError, match="only train questions may be used"):
        builder.build([src])


def test_more_labelled_sets_equal_a_rebuild_and_carry_their_spans():
    import json

    builder = _tool("build_more_labels")
    splits = {json.loads(line)["id"]: json.loads(line)["split"]
              for name in ("sfip", "sfip_ko")
              for line in (REPO / "eval_sets" / name / "questions.jsonl").read_text(encoding="utf-8").splitlines()}
    for name, build in builder.SETS.items():
        rows = build()
        path = REPO / "eval_sets" / "labeled" / name
        assert path.read_text(encoding="utf-8") == builder.to_jsonl(rows), f"{path} is stale: rebuild it"
        for r in rows:
            assert r["hallucinated"] == bool(r["spans"]), r["id"]  # every hallucinated answer says where
            for s in r["spans"]:
                assert r["answer"][s["start"]:s["end"]] == s["text"]
            if name != "web_answers.jsonl":
                assert splits[r["group"]] in ("train", "dev"), r["id"]  # never a test question
    web = builder.build_web()
    assert len(web) >= 360 and {r["writer"] for r in web} >= {"w1", "w3", "w4"}
    assert all(r.get("part") == "heldout" for r in web if r["writer"] in builder.HELDOUT_WRITERS)


def test_more_labels_build_refuses_a_span_not_in_its_answer(tmp_path):
    builder = _tool("build_more_labels")
    src = tmp_path / "web_w9.yaml"
    src.write_text('- id: "w9-001"\n  question: "q"\n  passages: ["p"]\n  answers:\n'
                   '    - {kind: "evident_conflict", hallucinated: true, answer: "It costs $5.", spans: ["$6"]}\n',
                   encoding="utf-8")
    with pytest.raises(builder.BuildError, match=r"span '\$6' is not in the answer"):
        builder.build_web([src])
    src.write_text('- id: "w9-001"\n  question: "q"\n  passages: ["p"]\n  answers:\n'
                   '    - {kind: "paraphrase", hallucinated: true, answer: "It costs $5.", spans: ["$5"]}\n',
                   encoding="utf-8")
    with pytest.raises(builder.BuildError, match="does not match"):
        builder.build_web([src])
