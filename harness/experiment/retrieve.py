"""Stage: the questions and their retrieved clauses, computed once and shared by every model and
cell. The result is kept in the run folder (retrieval.jsonl), so resume and rescore use exactly
the prompts the run started with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.config import EvalConfig
from harness.errors import HarnessError
from harness.eval_set import EvalItem, load_eval_set, parse_item
from harness.io import iter_jsonl, write_jsonl
from harness.experiment.store import JsonlStore, cache_key
from harness.prompts import Clause, build_messages, prompt_hash


@dataclass(frozen=True)
class Question:
    """One eval question as every model sees it."""

    item: EvalItem
    hits: list[dict]  # retrieved chunks as results records (chunk_id, document_id, ..., text)
    messages: list[dict[str, str]]
    prompt_hash: str

    @property
    def contexts(self) -> list[str]:
        """The clauses as the scorer checks answers against them (breadcrumbs, then text)."""
        return [f"{h.get('breadcrumbs', '')}\n{h['text']}".strip() for h in self.hits]

    def to_record(self) -> dict:
        return {"item": self.item.to_dict(), "hits": self.hits, "prompt_hash": self.prompt_hash}


def load_questions(cfg: EvalConfig) -> list[EvalItem]:
    items = load_eval_set(cfg.eval_set)
    if cfg.split:
        items = [it for it in items if it.split == cfg.split]
        if not items:
            raise HarnessError(f"no questions in split {cfg.split!r}", cfg.eval_set)
    return items[: cfg.limit] if cfg.limit else items


def make_question(item: EvalItem, hits: list[dict]) -> Question:
    messages = build_messages(item.question, [Clause(h["text"], h.get("breadcrumbs", "")) for h in hits], item.language)
    return Question(item, hits, messages, prompt_hash(messages))


def retrieve(items: list[EvalItem], retriever, k: int, store: JsonlStore | None = None,
             index_sha: str = "") -> tuple[list[Question], dict | None]:
    """Every question's top-k clauses, and retrieval metrics where the set has evidence spans.
    With a store, hits are cached by (index manifest, retrieval settings, k, question), so a
    rerun neither loads the embedder nor embeds a question."""
    from retrieval.metrics import evaluate_hits
    from retrieval.search import Hit

    settings = dataclasses.asdict(retriever.config)
    keys = [cache_key({"index": index_sha, "retrieval": settings, "k": k, "question": it.question}) for it in items]
    by_id = {c.chunk_id: c for c in retriever.index.chunks}
    hits: list[list | None] = [None] * len(items)
    if store is not None and index_sha:
        for i, key in enumerate(keys):
            cached = store.get(key)
            if cached is not None and all(h["chunk_id"] in by_id for h in cached):
                hits[i] = [Hit(by_id[h["chunk_id"]], h["score"], h["rank"], h.get("sources", {})) for h in cached]
    missing = [i for i, h in enumerate(hits) if h is None]
    if missing:
        found = retriever.search([items[i].question for i in missing], k)
        for i, its in zip(missing, found):
            hits[i] = its
        if store is not None and index_sha:
            store.put_many((keys[i], [{"chunk_id": h.chunk.chunk_id, "score": h.score, "rank": h.rank,
                                       "sources": h.sources} for h in hits[i]]) for i in missing)
    metrics = evaluate_hits(items, hits, retriever.index.chunks, k) \
        if any(it.answerable and it.evidence for it in items) else None
    questions = [make_question(it, [h.to_record(with_text=True) for h in its]) for it, its in zip(items, hits)]
    return questions, metrics


def save_questions(path: Path, questions: list[Question]) -> None:
    write_jsonl(path, [q.to_record() for q in questions])


def load_saved_questions(path: Path) -> list[Question]:
    return [make_question(parse_item(r["item"], path, line), r["hits"]) for line, r in iter_jsonl(path)]
