"""Training sets in TRL's conversational prompt-completion form, built from eval-set questions.

- `qa` (the seed's v1): the question alone -> the gold answer. No clauses: the model can only
  learn to recite, which is what made the seed's v1 hallucinate more.
- `rag` (the seed's v2): the prompt of `harness.prompts.build_messages` (the very function
  `harness eval` uses) over clauses found by the same retriever, the gold evidence chunk always
  among them at a random position, distractors kept -> the gold answer naming the clause it
  comes from; unanswerable questions and *evidence-removed negatives* (the same answerable
  question with every chunk overlapping its evidence taken out) -> the refusal sentence.

Every example keeps a `meta` record (question id, kind, language, chunk ids) beside the two
fields TRL reads; `harness train` drops it before training.
"""

from __future__ import annotations

import logging
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from harness.errors import HarnessError
from harness.eval_set import EvalItem, load_eval_set
from harness.io import atomic_write_json, read_json, sha256_file, write_jsonl
from harness.prompts import REFUSAL, Clause, build_messages, normalize_sentence, render_prompt
from retrieval.metrics import overlaps
from training.config import DataConfig

log = logging.getLogger(__name__)

DATA_FORMAT_VERSION = 1
_ROMAN = re.compile(r"^(?:XI|X|IX|VIII|VII|VI|V|IV|III|II|I)$")
_CIRCLED = {chr(0x2460 + i): i + 1 for i in range(20)}  # ① .. ⑳


def manifest_path(data_path: str | Path) -> Path:
    p = Path(data_path)
    return p.with_name(p.name + ".manifest.json")


def rag_example(question: str, clauses: Sequence[Clause], answer: str | None, language: str = "en") -> dict:
    """One v2-style example: instruction + clauses + question -> grounded answer.
    `answer=None` means the clauses do not answer the question: the target is the refusal."""
    target = REFUSAL[language] if answer is None else answer.strip()
    if not target:
        raise HarnessError("a training answer must not be empty")
    return {
        "prompt": build_messages(question, clauses, language),
        "completion": [{"role": "assistant", "content": target}],
    }


def qa_example(question: str, answer: str) -> dict:
    """One v1-style example: the question alone -> the gold answer (the seed's plain Q/A pairs)."""
    return {"prompt": [{"role": "user", "content": question.strip()}],
            "completion": [{"role": "assistant", "content": answer.strip()}]}


def citation_label(breadcrumbs: str, language: str) -> str:
    """A short name for the clause a chunk holds: "VII.G.4 of the Dwelling Form" from
    "Dwelling Form > VII. General Conditions > G. Requirements > 4.", "제8조 제2항" from
    "… > 제8조(보상하지 않는 손해) > ②". Empty when the breadcrumbs name no clause."""
    parts = [p.strip() for p in breadcrumbs.split(">")]
    title, levels = parts[0], parts[1:]
    if language == "ko":
        article = next((m.group(0) for p in levels if (m := re.match(r"제\s*\d+\s*조", p))), "")
        para = next((_CIRCLED[p[0]] for p in levels if p and p[0] in _CIRCLED), None)
        return f"{article} 제{para}항" if article and para else article
    markers = []
    for p in levels:
        m = re.match(r"^([IVX]+|[A-Z]|\d+|[a-z])\.(?:\s|$)", p)
        if not m:
            break
        markers.append(m.group(1))
    if not markers or not _ROMAN.match(markers[0]):
        return ""
    return ".".join(markers[:4]) + (f" of the {title}" if title else "")


def grounded_answer(gold: str, labels: Sequence[str], language: str) -> str:
    """The gold answer, naming the clause(s) it comes from, as the prompt's instruction asks."""
    labels = [lab for lab in dict.fromkeys(labels) if lab]
    if not labels:
        return gold.strip()
    if language == "ko":
        return f"{', '.join(labels)}에 따르면, {gold.strip()}"
    return f"Under {' and '.join(labels)}: {gold.strip()}"


def _overlaps(chunk, item: EvalItem) -> bool:
    """The chunk holds part of the question's evidence (retrieval metrics' notion of relevant)."""
    return any(overlaps(chunk.document_id, chunk.start, chunk.end, ev) for ev in item.evidence)


def _overlap_len(chunk, ev) -> int:
    if ev.document_id != chunk.document_id:
        return 0
    return max(0, min(chunk.end, ev.end) - max(chunk.start, ev.start))


def gold_chunks(item: EvalItem, chunks: Sequence, retrieved_ids: Sequence[str]) -> list:
    """For each evidence span, the chunk covering most of it (a retrieved one on ties)."""
    rank = {cid: i for i, cid in enumerate(retrieved_ids)}
    out = []
    for ev in item.evidence:
        best = max(chunks, key=lambda c: (_overlap_len(c, ev), -rank.get(c.chunk_id, len(rank))))
        if _overlap_len(best, ev) > 0 and best not in out:
            out.append(best)
    return out


def normalize_question(text: str) -> str:
    """Case, spacing, quotes and final punctuation aside, two questions are the same question."""
    return normalize_sentence(text).rstrip("?？.!。 ")


def check_leakage(selected: list[tuple[str, EvalItem]], all_items: list[tuple[str, EvalItem]], split: str,
                  allow: bool) -> None:
    """Refuse dev/test questions, and train questions whose id or text is also held out."""
    if allow:
        return
    if split != "train":
        raise HarnessError(f"building training data from the {split!r} split is refused: it would leak the questions "
                           "models are compared on (pass --allow-eval-splits to do it anyway; the manifest records it)")
    held = {}
    for path, it in all_items:
        if it.split in ("dev", "test"):
            held.setdefault(("id", it.id), (path, it))
            held.setdefault(("text", normalize_question(it.question)), (path, it))
    for path, it in selected:
        for key in (("id", it.id), ("text", normalize_question(it.question))):
            if key in held:
                other_path, other = held[key]
                what = "id" if key[0] == "id" else "text"
                raise HarnessError(f"train question {it.id!r} has the same {what} as {other.split} question "
                                   f"{other.id!r} ({other_path}); refusing to train on it (leakage). Fix the set or "
                                   "pass --allow-eval-splits", path)


@dataclass(frozen=True)
class DatasetResult:
    path: Path
    manifest: dict

    @property
    def stats(self) -> dict:
        return self.manifest["stats"]


def build_examples(cfg: DataConfig) -> tuple[list[dict], dict]:
    """(examples, counters) for cfg; no files written."""
    sources: list[tuple[str, list[EvalItem]]] = [(p, load_eval_set(p)) for p in cfg.eval_sets]
    all_items = [(p, it) for p, items in sources for it in items]
    selected = [(p, it) for p, it in all_items if it.split == cfg.split]
    check_leakage(selected, all_items, cfg.split, cfg.allow_eval_splits)
    if not selected:
        raise HarnessError(f"no questions in split {cfg.split!r} of {', '.join(cfg.eval_sets)}")
    rng = random.Random(cfg.seed)
    counts: Counter = Counter()
    examples: list[dict] = []
    if cfg.dataset == "qa":
        for path, it in selected:
            if not it.answerable:
                counts["skipped_unanswerable"] += 1
                continue
            examples.append({**qa_example(it.question, it.gold_answer),
                             "meta": _meta(it, path, "qa", 0, [])})
        examples.extend(extra_examples(cfg, rng, all_items, {}, counts))
        return examples, counts
    from retrieval.index import ensure_index
    from retrieval.search import Retriever

    indexes = cfg.indexes if len(cfg.indexes) == len(cfg.eval_sets) else cfg.indexes * len(cfg.eval_sets)
    index_of = dict(zip(cfg.eval_sets, indexes))
    retrievers: dict[str, Retriever] = {}
    for index in dict.fromkeys(index_of.values()):
        ensure_index(index)
        retrievers[index] = Retriever.load(index, cfg.retrieval)
    pool_k = max(3 * cfg.k, 15)  # distractors for the variants come from this deeper list
    by_index: dict[str, list[tuple[str, EvalItem]]] = {}
    for path, it in selected:
        by_index.setdefault(index_of[path], []).append((path, it))
    for index, group in by_index.items():
        retriever = retrievers[index]
        hits = retriever.search([it.question for _, it in group], pool_k)
        for (path, it), its_hits in zip(group, hits):
            examples.extend(_rag_examples(cfg, rng, path, it, [h.chunk for h in its_hits], retriever.index.chunks, counts))
    examples.extend(extra_examples(cfg, rng, all_items, retrievers, counts))
    return examples, counts


def read_extra(paths: Sequence[str]) -> list[tuple[str, int, dict]]:
    """(file, line, pair) for each generated pair (`harness data validate` output: instruction,
    input, output, type, chunk_id, language); a record without them is an error at file:line."""
    from harness.encoding import user_encoding
    from harness.io import iter_jsonl

    out = []
    for path in paths:
        for line, obj in iter_jsonl(path, user_encoding()):
            if not all(isinstance(obj.get(k), str) and obj[k].strip() for k in ("instruction", "input", "output")):
                raise HarnessError("a generated pair needs instruction, input and output (run `harness data validate` "
                                   "on generated files first)", path, line)
            out.append((str(path), line, obj))
    return out


def extra_examples(cfg: DataConfig, rng: random.Random, all_items: list[tuple[str, EvalItem]],
                   retrievers: dict, counts: Counter) -> list[dict]:
    """Examples from generated pairs (--extra), counted apart (kind "generated"). A pair whose
    question is also a dev or test question is dropped: generated questions never enter what
    models are compared on. rag: the pair's own clause among the retriever's other clauses for
    its question, target its answer (naming the clause); and, as for the set's questions, an
    evidence-removed negative for a share of them."""
    if not cfg.extra:
        return []
    held = {normalize_question(it.question) for _, it in all_items if it.split in ("dev", "test")}
    pairs = read_extra(cfg.extra)
    kept = []
    for path, line, p in pairs:
        if normalize_question(p["instruction"]) in held:
            counts["extra_dropped_eval_question"] += 1
        else:
            kept.append((path, line, p))
    out = []
    if cfg.dataset == "qa":
        for path, line, p in kept:
            out.append({**qa_example(p["instruction"], p["output"]),
                        "meta": _extra_meta(p, path, line, "generated", [])})
        counts["extra_pairs"] += len(kept)
        return out
    by_id = {c.chunk_id: (index, c) for index, r in retrievers.items() for c in r.index.chunks}
    pool_k = max(3 * cfg.k, 15)
    first_index = next(iter(retrievers))
    questions = {}
    for path, line, p in kept:
        index = by_id[p["chunk_id"]][0] if p.get("chunk_id") in by_id else first_index
        questions.setdefault(index, []).append((path, line, p))
    for index, group in questions.items():
        hits = retrievers[index].search([p["instruction"] for _, _, p in group], pool_k)
        for (path, line, p), its_hits in zip(group, hits):
            language = p.get("language") if p.get("language") in REFUSAL else "en"
            found = by_id.get(p.get("chunk_id"))
            gold_clause = Clause(p["input"], found[1].metadata.get("breadcrumbs", "") if found else "")
            distractors = [h.chunk for h in its_hits if h.chunk.chunk_id != p.get("chunk_id")
                           and h.chunk.text.strip() != p["input"].strip()]
            clauses = _clauses(distractors[:cfg.k - 1])
            clauses.insert(rng.randint(0, len(clauses)), gold_clause)
            label = citation_label(gold_clause.label, language) if cfg.cite else ""
            answer = grounded_answer(p["output"], [label], language)
            ids = [c.chunk_id for c in distractors[:cfg.k - 1]] + [p.get("chunk_id") or ""]
            out.append({**rag_example(p["instruction"], clauses, answer, language),
                        "meta": _extra_meta(p, path, line, "generated", ids)})
            if cfg.negatives and rng.random() < cfg.negatives:
                negative = distractors[:cfg.k]
                out.append({**rag_example(p["instruction"], _clauses(negative), None, language),
                            "meta": _extra_meta(p, path, line, "generated-negative", [c.chunk_id for c in negative])})
    counts["extra_pairs"] += len(kept)
    return out


def _extra_meta(p: dict, path: str, line: int, kind: str, chunk_ids: list[str]) -> dict:
    language = p.get("language") if p.get("language") in REFUSAL else "en"
    return {"question_id": f"{Path(path).name}:{line}", "kind": kind, "language": language,
            "category": str(p.get("type") or "generated"), "variant": 0, "source": str(path), "chunk_ids": chunk_ids}


def _meta(it: EvalItem, path: str, kind: str, variant: int, chunks: Sequence) -> dict:
    return {"question_id": it.id, "kind": kind, "language": it.language, "category": it.category,
            "variant": variant, "source": str(path), "chunk_ids": [c.chunk_id for c in chunks]}


def _clauses(chunks: Sequence) -> list[Clause]:
    return [Clause(c.text, c.metadata.get("breadcrumbs", "")) for c in chunks]


def _rag_examples(cfg: DataConfig, rng: random.Random, path: str, it: EvalItem, pool: list, all_chunks: Sequence,
                  counts: Counter) -> list[dict]:
    out = []
    if not it.answerable:
        if cfg.unanswerable:
            chunks = pool[:cfg.k]
            out.append({**rag_example(it.question, _clauses(chunks), None, it.language),
                        "meta": _meta(it, path, "unanswerable", 0, chunks)})
        else:
            counts["skipped_unanswerable"] += 1
        return out
    gold = gold_chunks(it, all_chunks, [c.chunk_id for c in pool])[:cfg.k]
    if not gold:
        raise HarnessError(f"question {it.id!r}: no chunk of the index overlaps its evidence (was the index built "
                           "from the corpus this set points at?)", path)
    distractors = [c for c in pool if not _overlaps(c, it)]
    retrieved_gold = sum(1 for c in pool[:cfg.k] if c in gold)
    counts["gold_in_top_k"] += retrieved_gold == len(gold)
    answer = grounded_answer(it.gold_answer or "", [citation_label(c.metadata.get("breadcrumbs", ""), it.language)
                                                    for c in gold] if cfg.cite else [], it.language)
    for v in range(cfg.variants):
        k = cfg.k if v == 0 else rng.randint(cfg.min_k, cfg.k)
        n_distract = max(0, k - len(gold))
        # Variant 0 keeps the retriever's best distractors, as `harness eval` would show them;
        # later variants draw others from the deeper pool.
        chosen = distractors[:n_distract] if v == 0 else rng.sample(distractors, min(n_distract, len(distractors)))
        chunks = list(chosen)
        for g in gold:
            chunks.insert(rng.randint(0, len(chunks)), g)
        out.append({**rag_example(it.question, _clauses(chunks), answer, it.language),
                    "meta": _meta(it, path, "grounded", v, chunks)})
    if cfg.negatives and rng.random() < cfg.negatives:
        chunks = distractors[:cfg.k]
        out.append({**rag_example(it.question, _clauses(chunks), None, it.language),
                    "meta": _meta(it, path, "negative", 0, chunks)})
    return out


def tokenize_example(example: dict, tokenizer, language: str = "en") -> dict:
    """input_ids = prompt (as `harness eval` renders and tokenizes it) + answer + EOS;
    labels = -100 over the prompt, the token ids over the answer and the EOS."""
    if tokenizer.eos_token_id is None:
        raise HarnessError("the tokenizer has no EOS token; the model could not learn where an answer ends")
    prompt = render_prompt(example["prompt"], tokenizer, language)
    prompt_ids = tokenizer(prompt, add_special_tokens=not getattr(tokenizer, "chat_template", None))["input_ids"]
    answer_ids = tokenizer(example["completion"][0]["content"].strip(), add_special_tokens=False)["input_ids"]
    completion = list(answer_ids) + [tokenizer.eos_token_id]
    return {"input_ids": list(prompt_ids) + completion, "labels": [-100] * len(prompt_ids) + completion}


def token_lengths(examples: Iterable[dict], tokenizer) -> list[int]:
    """Tokens of each example exactly as `harness train` feeds them."""
    return [len(tokenize_example(ex, tokenizer, ex.get("meta", {}).get("language", "en"))["input_ids"])
            for ex in examples]


def describe(examples: Sequence[dict], lengths: Sequence[int] | None) -> dict:
    """Counts by kind and language, and token-length figures."""
    kinds = Counter(ex["meta"]["kind"] for ex in examples)
    langs = Counter(ex["meta"]["language"] for ex in examples)
    refusals = sum(1 for ex in examples if ex["completion"][0]["content"] in REFUSAL.values())
    stats = {"n": len(examples), "by_kind": dict(sorted(kinds.items())), "by_language": dict(sorted(langs.items())),
             "by_kind_language": dict(sorted(Counter(f"{ex['meta']['kind']}/{ex['meta']['language']}"
                                                     for ex in examples).items())),
             "refusal_share": round(refusals / len(examples), 4) if examples else 0.0,
             "questions": len({(ex["meta"]["source"], ex["meta"]["question_id"]) for ex in examples})}
    if lengths:
        ordered = sorted(lengths)
        stats["tokens"] = {"min": ordered[0], "mean": round(statistics.fmean(ordered), 1),
                           "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1],
                           "total": sum(ordered)}
    return stats


def build_dataset(cfg: DataConfig, tokenizer=None) -> DatasetResult:
    """Build, measure and write cfg's training set and its manifest (both atomically)."""
    from harness.config import to_dict
    from harness.provenance import code_version

    examples, counts = build_examples(cfg)
    if not examples:
        raise HarnessError(f"the {cfg.dataset} dataset is empty after filtering ({dict(counts)})")
    if tokenizer is None:
        from transformers import AutoTokenizer

        from harness.models import resolve_base_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(cfg.base_model), trust_remote_code=False)
    stats = describe(examples, token_lengths(examples, tokenizer))
    stats["filtered"] = dict(counts)
    out = Path(cfg.out_path)
    write_jsonl(out, examples)
    manifest = {
        "format_version": DATA_FORMAT_VERSION,
        "dataset": cfg.dataset,
        "sha256": sha256_file(out),
        "config": to_dict(cfg),
        "allow_eval_splits": cfg.allow_eval_splits,
        "sources": [{"path": p, "sha256": sha256_file(p)} for p in cfg.eval_sets],
        "extra": [{"path": p, "sha256": sha256_file(p)} for p in cfg.extra],
        "indexes": [{"path": i, "manifest_sha256": sha256_file(Path(i) / "manifest.json")}
                    for i in dict.fromkeys(cfg.indexes)] if cfg.dataset == "rag" else [],
        "stats": stats,
        "code_version": code_version(),
    }
    atomic_write_json(manifest_path(out), manifest)
    return DatasetResult(out, manifest)


def load_examples(path: str | Path) -> tuple[list[dict], dict | None]:
    """A training JSONL checked line by line (file:line on the first bad one), and its manifest if any."""
    from harness.encoding import user_encoding
    from harness.io import iter_jsonl

    path = Path(path)
    rows = []
    for line, obj in iter_jsonl(path, user_encoding()):
        rows.append(check_example(obj, path, line))
    if not rows:
        raise HarnessError("training file has no examples", path)
    mpath = manifest_path(path)
    return rows, (read_json(mpath) if mpath.is_file() else None)


def check_example(obj: dict, path: Path, line: int) -> dict:
    """Prompt-completion in TRL's conversational form: prompt = list of {role, content} turns,
    completion = one assistant turn with non-empty content."""

    def bad(msg: str) -> HarnessError:
        return HarnessError(msg, path, line)

    for key in ("prompt", "completion"):
        turns = obj.get(key)
        if not isinstance(turns, list) or not turns:
            raise bad(f"{key!r} must be a non-empty list of {{role, content}} messages")
        for i, t in enumerate(turns):
            if not isinstance(t, dict) or not isinstance(t.get("role"), str) or not isinstance(t.get("content"), str):
                raise bad(f"{key}[{i}] must be an object with string 'role' and 'content'")
    if len(obj["completion"]) != 1 or obj["completion"][0]["role"] != "assistant":
        raise bad("'completion' must be exactly one assistant message")
    if not obj["completion"][0]["content"].strip():
        raise bad("the completion is empty")
    if obj["prompt"][-1]["role"] != "user":
        raise bad("the prompt must end with a user message")
    return obj
