"""`harness ask` / `harness chat`: one question through the same stages as an experiment
(retrieve -> generate -> trim -> score), with the model kept loaded between questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import GenRequest
from harness.config import EvalConfig
from harness.eval_set import EvalItem
from harness.experiment.generate import ModelLoader, generation_stops
from harness.experiment.plan import build_cells, check_plan, request_seed
from harness.experiment.retrieve import Question, make_question
from harness.experiment.score import grid_cell
from harness.trimming import trim


@dataclass
class Answer:
    question: Question
    raw_answer: str
    answer: str
    stop_fired: dict | None
    verdict: dict | None  # the scorer's {verdict, hallucinated, score, spans, claims}
    finish_reason: str
    error: str | None


class Asker:
    """Holds the retriever, the model and the scorer for a series of questions."""

    def __init__(self, cfg: EvalConfig, registry_path: Path = Path("models.json")):
        from retrieval.search import Retriever

        self.cfg = cfg
        plan = check_plan(cfg, registry_path)
        self.spec = plan.specs[0]
        self.cell = build_cells(cfg)[0]
        self.retriever = Retriever.load(cfg.index, cfg.retrieval)
        self.loader = ModelLoader(cfg.backend, plan.options)
        self.scorer = None
        if cfg.score:
            from harness.scoring.scorer import ScoreConfig, Scorer

            self.scorer = Scorer(ScoreConfig(threshold=cfg.score_threshold, judge=cfg.score_judge))

    def ask(self, text: str, language: str = "auto") -> Answer:
        if language == "auto":
            language = "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in text) else "en"
        hits = self.retriever.search([text], self.cfg.k)[0]
        item = EvalItem(id="ask", question=text, answerable=True, gold_answer=None, evidence=(), category="ask",
                        split="", language=language)
        q = make_question(item, [h.to_record(with_text=True) for h in hits])
        backend = self.loader.get(self.spec)
        request = GenRequest("ask", q.messages, language, self.cell.decoding,
                             seed=request_seed(self.cell.decoding.seed, q.prompt_hash),
                             stop_strings=generation_stops(language, self.cfg.stops))
        gen = backend.generate([request])[0]
        answer, cut = trim(gen.text, language, self.cfg.stops)
        verdict = None
        if self.scorer is not None and not gen.error:
            verdict = self.scorer.score(answer, q.contexts, question=text).to_dict(answer)
            verdict["grid"] = grid_cell(True, verdict["verdict"], verdict["hallucinated"])
        return Answer(q, gen.text, answer, cut.to_dict() if cut else None, verdict, gen.finish_reason, gen.error)

    def close(self) -> None:
        self.loader.close()


def format_answer(a: Answer, model: str) -> str:
    lines = ["Retrieved clauses:"]
    for i, h in enumerate(a.question.hits, start=1):
        body = " ".join(h["text"].split())
        lines.append(f"  [{i}] {h.get('breadcrumbs') or h['document_id']}  (score {h['score']:.3f})")
        lines.append(f"      {body[:200]}{'…' if len(body) > 200 else ''}")
    lines.append("")
    if a.error:
        lines.append(f"{model} failed: {a.error}")
        return "\n".join(lines)
    if a.stop_fired:
        lines.append(f"Raw answer ({a.finish_reason}):\n  {a.raw_answer.strip()}")
        s = a.stop_fired
        lines.append(f"Trimmed at character {s['offset']} by rule '{s['rule']}' ({s['match']!r}).")
    lines.append(f"Answer ({model}):\n  {a.answer}")
    if a.verdict:
        v = a.verdict
        score = "–" if v["score"] is None else f"{v['score']:.3f}"
        lines.append(f"Verdict: {v['verdict']} (support {score})")
        for span in v["spans"]:
            lines.append(f"  unsupported: {span['text']!r}")
    return "\n".join(lines)
