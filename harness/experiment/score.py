"""Stage: hallucination verdicts for every answer, after trimming and before it, with the
refusal grid and correctness against gold. Verdicts are cached by (scorer settings, answer,
clauses), so a rerun or a new trim rule re-scores only answers it has not seen."""

from __future__ import annotations

from typing import Sequence

from harness.experiment.retrieve import Question
from harness.experiment.store import JsonlStore, cache_key


HALLUCINATED_CELLS = ("hallucinated_answer", "answered_unanswerable")


def grid_cell(answerable: bool, verdict: str, hallucinated: bool) -> str:
    refused = verdict == "refused"
    if answerable:
        return "needless_refusal" if refused else ("hallucinated_answer" if hallucinated else "correct_answer")
    return "correct_refusal" if refused else "answered_unanswerable"


def score_records(records: list[dict], questions: Sequence[Question], scorer, store: JsonlStore) -> int:
    """Add verdict, score, spans, claims, grid, hallucinated, correctness (trimmed answer) and
    `untrimmed` {verdict, hallucinated, grid} (raw answer) to each record in place. Failed
    records stay unscored: they count as failed, not as verdicts. Returns how many were scored now."""
    from harness.scoring.correctness import correctness

    settings = {"version": scorer.version, "threshold": scorer.threshold, "judge": scorer.config.judge,
                "signals": list(scorer.config.signals), "embeddings": scorer.config.use_embeddings,
                "embedder": scorer.config.embedder}
    todo = [r for r in records if not r["error"]]
    jobs: dict[str, tuple[str, list[str], str]] = {}
    keys: list[tuple[str, str]] = []
    for rec in todo:
        contexts = questions[rec["index"]].contexts
        question = questions[rec["index"]].item.question
        pair = []
        for text in (rec["answer"], rec["raw_answer"].strip()):
            key = cache_key({"scorer": settings, "answer": text, "contexts": contexts, "question": question})
            pair.append(key)
            if key not in store and key not in jobs:
                jobs[key] = (text, contexts, question)
        keys.append((pair[0], pair[1]))
    if jobs:
        scorer.prepare(list(jobs.values()))
        store.put_many((key, scorer.score(text, ctx, question=q).to_dict(text)) for key, (text, ctx, q) in jobs.items())
    for rec, (key, raw_key) in zip(todo, keys):
        result, raw = store.get(key), store.get(raw_key)
        item = questions[rec["index"]].item
        grid = grid_cell(item.answerable, result["verdict"], result["hallucinated"])
        raw_grid = grid_cell(item.answerable, raw["verdict"], raw["hallucinated"])
        rec.update({
            "verdict": result["verdict"], "score": result["score"], "spans": result["spans"],
            "claims": result["claims"], "grid": grid,
            "hallucinated": grid in HALLUCINATED_CELLS,
            "correctness": correctness(rec["answer"], item.gold_answer) if item.answerable else None,
            "untrimmed": {"verdict": raw["verdict"], "grid": raw_grid,
                          "hallucinated": raw_grid in HALLUCINATED_CELLS},
        })
    return len(jobs)
