"""Training-set construction: citations, grounded targets, gold chunks, negatives, the leakage guard."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.eval_set import load_eval_set
from harness.prompts import REFUSAL, Clause, build_messages
from training.config import DataConfig
from training.data import (build_dataset, build_examples, check_example, citation_label, grounded_answer,
                           load_examples, manifest_path)

from tests.conftest import REPO

SFIP = REPO / "eval_sets" / "sfip" / "questions.jsonl"


@pytest.mark.parametrize("crumbs,lang,label", [
    ("Dwelling Form > VII. General Conditions > G. Requirements in Case of Loss", "en", "VII.G of the Dwelling Form"),
    ("Dwelling Form > VII. General Conditions > R. Loss Settlement > 4. Actual Cash Value", "en",
     "VII.R.4 of the Dwelling Form"),
    ("Residential Condominium Building Association Policy > II. Definitions > C. > 21. > c.", "en",
     "II.C.21.c of the Residential Condominium Building Association Policy"),
    ("Dwelling Form", "en", ""),
    ("표준홍수보험 주택용 약관 (발췌 번역) > 제8조(보상하지 않는 손해) > ②", "ko", "제8조 제2항"),
    ("표준홍수보험 주택용 약관 (발췌 번역) > 제13조(감정)", "ko", "제13조"),
])
def test_citation_label(crumbs, lang, label):
    assert citation_label(crumbs, lang) == label


def test_grounded_answer_names_the_clause_in_each_language():
    assert grounded_answer("Within 60 days.", ["VII.G of the Dwelling Form"], "en") == \
        "Under VII.G of the Dwelling Form: Within 60 days."
    assert grounded_answer("60일 이내입니다.", ["제13조", "제13조"], "ko") == "제13조에 따르면, 60일 이내입니다."
    assert grounded_answer("Yes.", [""], "en") == "Yes."


def _subset(tmp_path, n_per_kind=4):
    """A small train-only slice of the English set (answerable and unanswerable), plus its dev part."""
    rows = [json.loads(line) for line in SFIP.read_text(encoding="utf-8").splitlines()]
    train_ans = [r for r in rows if r["split"] == "train" and r["answerable"]][:n_per_kind]
    train_un = [r for r in rows if r["split"] == "train" and not r["answerable"]][:2]
    dev = [r for r in rows if r["split"] == "dev"][:3]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in train_ans + train_un + dev), encoding="utf-8")
    return path


def test_rag_examples_hold_the_gold_chunk_and_negatives_hold_none(tmp_path, sfip_index):
    path = _subset(tmp_path)
    cfg = DataConfig(dataset="rag", eval_sets=(str(path),), indexes=(str(sfip_index),), variants=2, negatives=1.0)
    examples, counts = build_examples(cfg)
    items = {it.id: it for it in load_eval_set(path)}
    from retrieval.index import load_index

    chunks = {c.chunk_id: c for c in load_index(sfip_index).chunks}

    def overlaps(chunk_id, item):
        c = chunks[chunk_id]
        return any(e.document_id == c.document_id and c.start < e.end and e.start < c.end for e in item.evidence)

    kinds = [ex["meta"]["kind"] for ex in examples]
    assert kinds.count("grounded") == 8 and kinds.count("negative") == 4 and kinds.count("unanswerable") == 2
    assert all(ex["meta"]["question_id"] in items and items[ex["meta"]["question_id"]].split == "train" for ex in examples)
    for ex in examples:
        item = items[ex["meta"]["question_id"]]
        target = ex["completion"][0]["content"]
        ids = ex["meta"]["chunk_ids"]
        assert ex["prompt"][0]["role"] == "system" and ex["prompt"][-1]["content"].endswith(item.question)
        if ex["meta"]["kind"] == "grounded":
            assert any(overlaps(cid, item) for cid in ids)
            assert target.endswith(item.gold_answer) and target.startswith("Under ")
            assert 3 <= len(ids) <= 5
        elif ex["meta"]["kind"] == "negative":
            assert not any(overlaps(cid, item) for cid in ids) and target == REFUSAL["en"]
        else:
            assert target == REFUSAL["en"]
        # the clauses in the prompt are the chunks the meta names, in that order
        clauses = [Clause(chunks[cid].text, chunks[cid].metadata["breadcrumbs"]) for cid in ids]
        assert ex["prompt"] == build_messages(item.question, clauses, "en")
    # the gold chunk's position varies (it is placed at random, not always first)
    firsts = {ex["meta"]["chunk_ids"][0] for ex in examples if ex["meta"]["kind"] == "grounded"}
    golds = {cid for ex in examples if ex["meta"]["kind"] == "grounded" for cid in ex["meta"]["chunk_ids"]
             if overlaps(cid, items[ex["meta"]["question_id"]])}
    assert not firsts <= golds


def test_qa_examples_are_question_to_gold_without_clauses(tmp_path):
    path = _subset(tmp_path)
    examples, counts = build_examples(DataConfig(dataset="qa", eval_sets=(str(path),), indexes=("unused",)))
    assert len(examples) == 4 and counts["skipped_unanswerable"] == 2
    for ex in examples:
        assert [m["role"] for m in ex["prompt"]] == ["user"] and "[Policy clauses]" not in ex["prompt"][0]["content"]


def test_build_is_deterministic_and_writes_a_manifest(tmp_path, sfip_index, tokenizer):
    path = _subset(tmp_path)
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        cfg = DataConfig(dataset="rag", eval_sets=(str(path),), indexes=(str(sfip_index),), out=str(tmp_path / name))
        outs.append(build_dataset(cfg, tokenizer=tokenizer))
    assert outs[0].path.read_bytes() == outs[1].path.read_bytes()
    manifest = json.loads(manifest_path(outs[0].path).read_text(encoding="utf-8"))
    assert manifest["sha256"] == outs[0].manifest["sha256"] and manifest["allow_eval_splits"] is False
    stats = manifest["stats"]
    assert stats["by_language"] == {"en": stats["n"]} and stats["tokens"]["min"] > 100
    rows, loaded_manifest = load_examples(outs[0].path)
    assert len(rows) == stats["n"] and loaded_manifest == manifest


def test_leakage_guard(tmp_path):
    path = _subset(tmp_path)
    with pytest.raises(HarnessError, match="'dev' split is refused"):
        build_examples(DataConfig(dataset="qa", eval_sets=(str(path),), split="dev"))
    examples, _ = build_examples(DataConfig(dataset="qa", eval_sets=(str(path),), split="dev", allow_eval_splits=True))
    assert examples
    # a train question whose text is also a dev question (case and punctuation aside) is refused
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    dev = next(r for r in rows if r["split"] == "dev")
    rows.append({**dev, "id": "copy-of-dev", "split": "train", "question": dev["question"].upper().rstrip("?") + "."})
    leaky = tmp_path / "leaky.jsonl"
    leaky.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(HarnessError, match=f"train question 'copy-of-dev' has the same text as dev question '{dev['id']}'"):
        build_examples(DataConfig(dataset="qa", eval_sets=(str(leaky),)))
    # the same id in another given set's test split counts too
    other = tmp_path / "other.jsonl"
    train_id = next(r for r in rows if r["split"] == "train")["id"]
    other.write_text(json.dumps({**dev, "id": train_id, "split": "test"}) + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="same id as test question"):
        build_examples(DataConfig(dataset="qa", eval_sets=(str(path), str(other)), indexes=("x",)))


@pytest.mark.parametrize("line,message", [
    ('{"prompt": [], "completion": [{"role": "assistant", "content": "x"}]}', "'prompt' must be a non-empty list"),
    ('{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": " "}]}',
     "the completion is empty"),
    ('{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "user", "content": "a"}]}',
     "'completion' must be exactly one assistant message"),
    ('{"prompt": [{"role": "user"}], "completion": [{"role": "assistant", "content": "a"}]}',
     r"prompt\[0\] must be an object"),
])
def test_malformed_training_line_names_file_and_line(tmp_path, line, message):
    good = '{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}'
    path = tmp_path / "train.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=rf"train.jsonl:2: {message}"):
        load_examples(path)
    assert check_example(json.loads(good), path, 1)["completion"][0]["content"] == "a"


def test_a_missing_index_that_is_not_a_default_one_is_an_error(tmp_path):
    path = _subset(tmp_path)
    with pytest.raises(HarnessError, match=r"nope: not an index folder .*build one with `harness index --corpus YOUR_CORPUS"):
        build_examples(DataConfig(dataset="rag", eval_sets=(str(path),), indexes=(str(tmp_path / "nope"),)))


def test_extra_generated_pairs_are_mixed_in_counted_apart_and_never_eval_questions(tmp_path, sfip_index):
    from retrieval.index import load_index

    path = _subset(tmp_path)
    chunk = next(c for c in load_index(sfip_index).chunks if "proof of loss" in c.text.lower())
    dev_question = next(it.question for it in load_eval_set(SFIP) if it.split == "dev")
    extra = tmp_path / "generated.jsonl"
    extra.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "How soon must I send my proof of loss?", "input": chunk.text,
         "output": "Within 60 days after the loss.", "type": "fact", "chunk_id": chunk.chunk_id, "language": "en"},
        {"instruction": dev_question, "input": chunk.text, "output": "Something long enough.", "type": "easy",
         "chunk_id": chunk.chunk_id, "language": "en"}]) + "\n", encoding="utf-8")
    rag, counts = build_examples(DataConfig(dataset="rag", eval_sets=(str(path),), indexes=(str(sfip_index),),
                                            extra=(str(extra),), negatives=1.0))
    generated = [ex for ex in rag if ex["meta"]["kind"] == "generated"]
    assert len(generated) == 1 and counts["extra_pairs"] == 1 and counts["extra_dropped_eval_question"] == 1
    ex = generated[0]
    assert chunk.text in ex["prompt"][-1]["content"]  # its own clause is among the clauses
    assert ex["meta"]["chunk_ids"].count(chunk.chunk_id) == 1
    assert ex["completion"][0]["content"].endswith("Within 60 days after the loss.")
    negative = next(ex for ex in rag if ex["meta"]["kind"] == "generated-negative")
    assert chunk.text not in negative["prompt"][-1]["content"]
    assert negative["completion"][0]["content"] == REFUSAL["en"]
    qa, counts = build_examples(DataConfig(dataset="qa", eval_sets=(str(path),), extra=(str(extra),)))
    assert [ex["completion"][0]["content"] for ex in qa if ex["meta"]["kind"] == "generated"] == \
        ["Within 60 days after the loss."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "Q?"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match="bad.jsonl:1: a generated pair needs"):
        build_examples(DataConfig(dataset="qa", eval_sets=(str(path),), extra=(str(bad),)))
