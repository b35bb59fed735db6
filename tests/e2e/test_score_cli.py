from __future__ import annotations

import json


from tests.e2e.conftest import run

CTX = ("Dwelling Form > VII. General Conditions > G. Requirements in Case of Loss\n"
       "4. Within 60 days after the loss, send us a proof of loss.")


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_score_writes_verdicts_spans_and_claims(tmp_path):
    src = _write(tmp_path / "in.jsonl", [
        {"id": "a", "question": "Deadline?", "context": CTX, "answer": "Send the proof of loss within 60 days after the loss."},
        {"id": "b", "question": "Deadline?", "contexts": [CTX], "answer": "Send it within 90 days. Phone calls are fine."},
        {"id": 3, "question": "Premium?", "context": CTX, "answer": "The policy does not say."},
    ])
    out = tmp_path / "out.jsonl"
    result = run("score", "--input", src, "--output", out, "--no-embeddings")
    assert result.exit_code == 0, result.output
    assert "3 answers: 1 supported, 1 hallucinated (33.3%), 1 refused" in result.stdout
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["verdict"] for r in rows] == ["supported", "hallucinated", "refused"]
    assert [r["hallucinated"] for r in rows] == [False, True, False]
    b = rows[1]
    assert b["id"] == "b" and b["contexts"] == [CTX] and 0 <= b["score"] < 0.5
    assert "90 days" in [s["text"] for s in b["spans"]]  # word-level: the number the context does not hold
    assert all(b["answer"][s["start"]:s["end"]] == s["text"] for s in b["spans"])
    assert {"text", "start", "end", "support", "signals", "kind"} <= set(b["claims"][0])


def test_score_bad_lines_exit_2_at_file_and_line(tmp_path):
    cases = [
        ('{"id": "x", "answer": "a"', "invalid JSON"),
        ('{"id": "x", "answer": "a"}', "exactly one of 'context'"),
        ('{"id": "x", "context": "c"}', "'answer' must be a string"),
        ('{"answer": "a", "context": "c"}', "missing or invalid 'id'"),
        ('{"id": "x", "answer": "a", "contexts": "not a list"}', "'contexts' a list of strings"),
    ]
    for line, message in cases:
        src = _write(tmp_path / "bad.jsonl", [{"id": "ok", "context": CTX, "answer": "fine"}, line])
        result = run("score", "--input", src, "--output", tmp_path / "o.jsonl", "--no-embeddings")
        assert result.exit_code == 2, line
        assert f"{src}:2: " in result.stderr and message in result.stderr, result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_calibrate_chooses_a_threshold_and_reports_heldout(tmp_path):
    rows = []
    for i in range(12):
        rows.append({"id": f"g{i}", "part": "dev" if i < 6 else "heldout", "context": CTX, "hallucinated": False,
                     "answer": "Send the proof of loss within 60 days after the loss.", "kind": "faithful"})
        rows.append({"id": f"h{i}", "part": "dev" if i < 6 else "heldout", "context": CTX, "hallucinated": True,
                     "answer": f"Send the proof of loss within {90 + i} days after the loss.", "kind": "number_swap"})
    src = _write(tmp_path / "labeled.jsonl", rows)
    out = tmp_path / "report.json"
    result = run("calibrate", "--labeled", src, "--out", out, "--no-embeddings")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["heldout"]["f1"] == 1.0 and report["heldout"]["kappa"] == 1.0 and report["heldout"]["roc_auc"] == 1.0
    assert report["heldout"]["n"] == 12 and report["dev"]["n"] == 12
    assert "held-out: n 12 (hallucinated 6)" in result.stdout and f"held-out {src}: n 12" in result.stdout
    missing_label = _write(tmp_path / "nolabel.jsonl", [{"id": "x", "context": CTX, "answer": "a"}])
    bad = run("calibrate", "--labeled", missing_label)
    assert bad.exit_code == 2 and f"{missing_label}:1: a labeled line needs 'hallucinated'" in bad.stderr


def test_scorer_fit_learns_from_dev_parts_and_calibrate_uses_the_fitted_combiner(tmp_path):
    rows = []
    for i in range(16):
        part = "dev" if i < 10 else "heldout"
        rows.append({"id": f"g{i}", "group": f"q{i}", "part": part, "context": CTX, "hallucinated": False,
                     "answer": "Send the proof of loss within 60 days after the loss.", "spans": []})
        bad = f"Send the proof of loss within {90 + i} days after the loss, by registered mail."
        start = bad.index(f"{90 + i} days")
        rows.append({"id": f"h{i}", "group": f"q{i}", "part": part, "context": CTX, "hallucinated": True, "answer": bad,
                     "spans": [{"start": start, "end": start + 7, "text": bad[start:start + 7]}]})
    src = _write(tmp_path / "labeled.jsonl", rows)
    combiner = tmp_path / "combiner.json"
    result = run("scorer", "fit", "--labeled", src, "--out", combiner)
    assert result.exit_code == 0, result.output
    fitted = json.loads(combiner.read_text())
    assert set(fitted["variants"]) == {"full", "lexical"} and fitted["meta"]["answers"] == 20  # the dev part only
    md = tmp_path / "table.md"
    result = run("calibrate", "--labeled", src, "--combiner", combiner, "--markdown", md, "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["heldout"]["n"] == 12 and report["heldout"]["roc_auc"] == 1.0
    assert report["heldout"]["span"]["n"] == 12 and report["scorer"].startswith("4/c:")
    assert "| labeled |" in md.read_text() and "| all, language en |" in md.read_text()
