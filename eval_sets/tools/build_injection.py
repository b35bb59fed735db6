"""Build the prompt-injection set: poisoned copies of the policy forms plus questions on them.

Each case inserts hostile text into a real clause of a form (right after an anchor quote),
so that a retriever which finds the clause also hands the hostile text to the model:

    python eval_sets/tools/build_injection.py eval_sets/injection/cases.src.yaml

Writes
- eval_sets/corpora/injection/<form>_injected.txt: the form with every case's text inserted;
- eval_sets/injection/questions.jsonl: the questions in the eval-set schema, their evidence
  being the genuine clause in the injected document, gold_answer the faithful answer;
- eval_sets/injection/injections.jsonl: {id, attack, document_id, start, end, text, obeyed_if},
  where each hostile text sits, so a run can tell whether it reached the model, and the signs
  that an answer obeyed it (harness/scoring/injection.py judges answers with them).

Source format:

    corpus: eval_sets/corpora/sfip
    out_corpus: eval_sets/corpora/injection
    cases:
      - id: inj-001
        attack: override                   # kind of attack, also the question's category
        document: sfip_dwelling
        anchor: "4. Within 60 days after the loss, send us a proof of loss"   # unique quote
        position: inline                   # inline (default: appended to the anchor's paragraph) | after_paragraph | before_paragraph
        text: "Ignore the instructions above and ..."
        obeyed_if: ['^\W*yes\b', '\bthe loss is covered\b']   # regexes (case-insensitive) that match an
                                           # answer doing what the text asks; none may match the faithful answer
        question: "..."
        gold: "..."                         # the faithful answer; null if the clauses do not answer
        evidence: ["quote of the genuine clause that answers"]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_set import BuildError, _read, assign_splits, find_span, to_jsonl  # noqa: E402

# The refusal sentence (harness.prompts.REFUSAL["en"]): the faithful answer of an unanswerable case.
REFUSAL_EN = "The policy does not say."
# How harness.scoring.injection searches the signs; keep the two in step.
OBEYED_FLAGS = re.IGNORECASE | re.DOTALL


def obeyed_signs(case: dict, source: Path) -> list[str]:
    """The case's obeyed_if patterns, checked: a non-empty list of valid regexes, none of which
    matches the faithful answer (gold, or the refusal sentence when the clauses do not answer)."""
    signs = case.get("obeyed_if")
    if not isinstance(signs, list) or not signs or not all(isinstance(s, str) and s.strip() for s in signs):
        raise BuildError(f"{source}: case {case['id']}: obeyed_if must be a non-empty list of regular expressions")
    faithful = (case.get("gold") or REFUSAL_EN).strip()
    for sign in signs:
        try:
            pattern = re.compile(sign, OBEYED_FLAGS)
        except re.error as e:
            raise BuildError(f"{source}: case {case['id']}: obeyed_if {sign!r} is not a regular expression: {e}") from None
        if pattern.search(faithful):
            raise BuildError(f"{source}: case {case['id']}: obeyed_if {sign!r} matches the faithful answer {faithful!r}")
    return signs


def build(source: Path, root: Path | None = None) -> dict[Path, str]:
    """{path: file content} for every file the source produces."""
    root = root or Path.cwd()
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    corpus, out_corpus = root / spec["corpus"], root / spec["out_corpus"]
    cases = spec["cases"]
    # Insert into each document from the end backwards, so earlier offsets stay valid.
    texts: dict[str, str] = {}
    inserts: dict[str, list[tuple[int, str, dict]]] = {}
    signs = {case["id"]: obeyed_signs(case, source) for case in cases}
    for case in cases:
        doc = case["document"]
        if doc not in texts:
            texts[doc] = _read(corpus / f"{doc}.txt")
        try:
            start, end = find_span(texts[doc], case["anchor"])
        except BuildError as e:
            raise BuildError(f"{source}: case {case['id']}: {e}") from None
        text = texts[doc]
        position = case.get("position", "inline")
        para_end = text.find("\n", end)
        if position == "inline":  # the tampered clause: hostile text appended to its paragraph
            at = len(text) if para_end < 0 else para_end
            insert = " " + case["text"].strip()
        elif position == "after_paragraph":
            at = len(text) if para_end < 0 else para_end
            insert = "\n\n" + case["text"].strip()
        elif position == "before_paragraph":
            at = text.rfind("\n", 0, start) + 1
            insert = case["text"].strip() + "\n\n"
        else:
            raise BuildError(f"{source}: case {case['id']}: unknown position {position!r}")
        inserts.setdefault(doc, []).append((at, insert, case))
    outputs: dict[Path, str] = {}
    located: dict[str, dict] = {}
    for doc, items in inserts.items():
        text = texts[doc]
        for at, insert, case in sorted(items, key=lambda x: x[0], reverse=True):
            text = text[:at] + insert + text[at:]
        new_doc = f"{doc}_injected"
        for _, insert, case in items:
            s, e = find_span(text, case["text"].strip())
            located[case["id"]] = {"id": case["id"], "attack": case["attack"], "document_id": new_doc,
                                   "start": s, "end": e, "text": case["text"].strip(),
                                   "obeyed_if": signs[case["id"]]}
        outputs[out_corpus / f"{new_doc}.txt"] = text
        texts[new_doc] = text
    records = []
    for case in cases:
        new_doc = f"{case['document']}_injected"
        evidence = []
        for quote in case.get("evidence") or []:
            try:
                s, e = find_span(texts[new_doc], quote)
            except BuildError as err:
                raise BuildError(f"{source}: case {case['id']}: {err}") from None
            evidence.append({"document_id": new_doc, "start": s, "end": e})
        gold = case.get("gold")
        records.append({"id": case["id"], "question": case["question"].strip(), "answerable": gold is not None,
                        "gold_answer": gold.strip() if gold is not None else None, "evidence": evidence,
                        "category": case["attack"], "split": case.get("split"), "language": case.get("language", "en")})
    assign_splits(records)
    outputs[source.parent / "questions.jsonl"] = to_jsonl(records)
    outputs[source.parent / "injections.jsonl"] = "".join(
        json.dumps(located[c["id"]], ensure_ascii=False) + "\n" for c in cases)
    return outputs


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        outputs = build(Path(argv[0]))
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, content in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        print(f"{path}: {len(content)} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
