"""Build labeled answers by controlled perturbation of gold answers (calibration set (a)).

    python eval_sets/tools/build_perturbations.py            # writes eval_sets/labeled/perturbations.jsonl

For each answerable question of eval_sets/sfip/questions.jsonl the context is the chunks that
hold its evidence plus the next chunk of the same form (default chunking, tokenizer-free
counts, so the file does not depend on the embedder). From the gold answer it derives answers
whose label the perturbation implies:

  faithful (hallucinated = false): gold, extractive (the evidence quoted), paraphrase
  unfaithful (hallucinated = true): number_swap, wrong_form, negation_flip,
      appended_unsupported, entity_swap
For unanswerable questions (context: the BM25 top 3 chunks): refusal (false) and
answered_unanswerable, a confident invented answer (true).

Every choice is deterministic (hashes of the question id), so the file rebuilds exactly;
a test checks that it does.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.config import ChunkConfig  # noqa: E402
from harness.eval_set import load_eval_set  # noqa: E402
from harness.prompts import REFUSAL  # noqa: E402
from harness.scoring.numbers import extract_quantities  # noqa: E402
from retrieval.chunking import chunk_document, read_document  # noqa: E402
from retrieval.sparse import BM25Index  # noqa: E402

FORMS = {"sfip_dwelling": "Dwelling Form", "sfip_general_property": "General Property Form",
         "sfip_rcbap": "Residential Condominium Building Association Policy"}
UNSUPPORTED = [
    "The insurer also reimburses hotel costs for up to 14 days while repairs are made.",
    "This limit is doubled for buildings in coastal high-hazard zones.",
    "Policyholders over 65 receive a 10 percent premium discount on this coverage.",
    "A licensed contractor must certify the repairs within 7 days.",
    "The same rule applies to vehicles parked in an attached garage.",
    "FEMA may extend this by another 90 days on request by phone.",
]
ENTITY_SWAPS = [("Coverage A", "Coverage E"), ("Coverage B", "Coverage F"), ("Coverage D", "Coverage E"),
                ("Declarations Page", "Schedule of Benefits"), ("mortgagee", "landlord"), ("adjuster", "attorney"),
                ("Federal minimum wage", "prevailing union wage"), ("FEMA", "HUD"), ("appraiser", "contractor"),
                ("condominium association", "homeowners association"), ("personal property", "business income"),
                ("insurer", "state insurance commissioner"), ("building", "vehicle"), ("flood", "windstorm")]
INVENTED = ["The policy sets this at $4,750.", "It is 47 days under the policy.", "The policy fixes it at 12.5 percent.",
            "Yes, the policy pays up to $8,250 for it.", "The insurer allows 21 days for it."]


def pick(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % n


def number_swap(gold: str, context: str, key: str) -> str | None:
    ctx_values = {q.value for q in extract_quantities(context)}
    for q in extract_quantities(gold):
        digits = re.search(r"\d[\d,]*(?:\.\d+)?", q.text)
        if not digits:
            continue
        for factor in (2, 3, 1.5, 4):
            new = q.value * factor if q.value >= 10 else q.value + factor
            if new in ctx_values:
                continue
            text = f"{new:,.0f}" if new == int(new) else f"{new:,.1f}"
            if "," not in digits.group():
                text = text.replace(",", "")
            swapped = q.text[:digits.start()] + text + q.text[digits.end():]
            return gold[:q.start] + swapped + gold[q.end:]
    return None


_FLIPS = [(r"\bis not\b", "is"), (r"\bare not\b", "are"), (r"\bdoes not\b", "does"), (r"\bdo not\b", "do"),
          (r"\bcannot\b", "can"), (r"\bwill not\b", "will"), (r"\bnot\b ", "")]


def negation_flip(gold: str) -> str | None:
    text = gold
    lead = re.match(r"^(No|Yes)([.,])\s*", text)
    if lead:
        text = ("Yes" if lead.group(1) == "No" else "No") + lead.group(2) + " " + text[lead.end():]
    for pattern, repl in _FLIPS:
        flipped, n = re.subn(pattern, repl, text, count=1)
        if n:
            return flipped
    for aux in ("is", "are", "must", "will", "can", "applies", "apply"):
        flipped, n = re.subn(rf"\b{aux}\b", f"{aux} not" if aux not in ("applies", "apply") else "does not apply",
                             text, count=1)
        if n:
            return flipped
    return text if lead else None


def entity_swap(gold: str, context: str) -> str | None:
    low = context.lower()
    for old, new in ENTITY_SWAPS:
        if re.search(rf"\b{re.escape(old)}\b", gold) and new.lower() not in low:
            return re.sub(rf"\b{re.escape(old)}\b", new, gold, count=1)
    return None


def paraphrase(gold: str) -> str:
    text = gold
    for old, new in (("No more than", "At most"), ("no more than", "at most"), ("Up to", "A maximum of"),
                     ("up to", "a maximum of"), ("Within", "Inside"), (" must ", " has to "), ("cannot", "may not")):
        text = text.replace(old, new, 1)
    first = text[0].lower() + text[1:] if text[:2] not in ("No", "Ye") or text[2:3].isalpha() else text
    return "According to the policy clauses, " + first if not first.startswith(("no.", "yes.", "No.", "Yes.")) else text


def question_contexts(corpus: str = "sfip", forms=FORMS, eval_set: str = "sfip") -> tuple[dict[str, list[str]], dict[str, list]]:
    """Each question's context as the calibration sets use it: for an answerable question the
    chunks holding its evidence (in every form it cites) plus the next chunk of its first form;
    for an unanswerable one the BM25 top three chunks. Also the chunks per form. Defaults: the
    English forms and questions; build_more_labels passes the Korean ones."""
    corpus_dir = ROOT / "eval_sets" / "corpora" / corpus
    config = ChunkConfig()
    chunks = {doc: chunk_document(read_document(corpus_dir / f"{doc}.txt"), doc, config) for doc in forms}
    everything = [c for doc in forms for c in chunks[doc]]
    bm25 = BM25Index([f"{c.metadata['breadcrumbs']}\n{c.text}" for c in everything])
    out: dict[str, list[str]] = {}
    for item in load_eval_set(ROOT / "eval_sets" / eval_set / "questions.jsonl"):
        if not item.answerable:
            picked = [everything[i] for i, _ in bm25.search(item.question, 3)]
        else:
            picked = []
            for doc in dict.fromkeys(ev.document_id for ev in item.evidence):
                doc_chunks = chunks[doc]
                keep = [i for i, c in enumerate(doc_chunks)
                        if any(ev.document_id == doc and c.start < ev.end and ev.start < c.end for ev in item.evidence)]
                if doc == item.evidence[0].document_id:  # one neighbouring chunk as a distractor
                    keep = sorted(set(keep) | {min(keep[-1] + 1, len(doc_chunks) - 1)})
                picked.extend(doc_chunks[i] for i in keep)
        out[item.id] = [f"{c.metadata['breadcrumbs']}\n{c.text}" for c in picked]
    return out, chunks


def build() -> list[dict]:
    corpus = ROOT / "eval_sets" / "corpora" / "sfip"
    all_contexts, _ = question_contexts()
    out: list[dict] = []
    for item in load_eval_set(ROOT / "eval_sets" / "sfip" / "questions.jsonl"):
        base = {"group": item.id, "question": item.question}
        contexts = all_contexts[item.id]
        if not item.answerable:
            out.append({"id": f"{item.id}/refusal", **base, "kind": "refusal", "contexts": contexts,
                        "answer": REFUSAL["en"], "hallucinated": False, "note": "correct refusal"})
            out.append({"id": f"{item.id}/invented", **base, "kind": "answered_unanswerable", "contexts": contexts,
                        "answer": INVENTED[pick(item.id, len(INVENTED))], "hallucinated": True,
                        "note": "a confident answer to a question the clauses do not answer"})
            continue
        context = "\n\n".join(contexts)
        gold = item.gold_answer
        evidence_text = " ".join(read_document(corpus / f"{ev.document_id}.txt")[ev.start:ev.end] for ev in item.evidence)
        variants = [("gold", gold, False, "the hand-written gold answer"),
                    ("extractive", "The policy states: " + evidence_text, False, "the evidence, quoted"),
                    ("paraphrase", paraphrase(gold), False, "gold answer reworded by fixed rules")]
        swapped = number_swap(gold, context, item.id)
        if swapped:
            variants.append(("number_swap", swapped, True, "a number changed to one the context does not have"))
        doc = item.evidence[0].document_id
        others = [d for d in FORMS if d != doc]
        other = FORMS[others[pick(item.id, 2)]]
        variants.append(("wrong_form", f"Under the {other}, " + gold[0].lower() + gold[1:], True,
                         "the answer attributed to a form whose text is not in the context"))
        flipped = negation_flip(gold)
        if flipped and flipped != gold:
            variants.append(("negation_flip", flipped, True, "polarity flipped"))
        variants.append(("appended_unsupported", gold + " " + UNSUPPORTED[pick(item.id, len(UNSUPPORTED))], True,
                         "an unsupported sentence appended"))
        ent = entity_swap(gold, context)
        if ent:
            variants.append(("entity_swap", ent, True, "a name or defined term swapped for one not in the context"))
        for kind, answer, label, note in variants:
            out.append({"id": f"{item.id}/{kind}", **base, "kind": kind, "contexts": contexts, "answer": answer,
                        "hallucinated": label, "note": note})
    return out


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> int:
    rows = build()
    path = ROOT / "eval_sets" / "labeled" / "perturbations.jsonl"
    path.write_text(to_jsonl(rows), encoding="utf-8")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"{path}: {len(rows)} labeled answers; " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
