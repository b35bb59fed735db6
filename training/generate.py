"""Self-instruct training data, the seed's way: per policy chunk, ask a generator for question /
answer pairs grounded in it (fact, scenario, easy), in the chunk's language.

The generator is any generation backend (harness.backends): the in-process `hf` one or the
`openai` one against any OpenAI-compatible server, with its retries (429 / 5xx / timeouts,
exponential backoff with jitter, capped). Chunks are sharded deterministically over N workers
(`ceil(total / N)` consecutive chunks each), each worker a thread working through its shard.

Kill-safe: each processed chunk is one line appended (and flushed) to its worker's file under
`OUT/shards/`, holding the chunk's pairs, its rejected replies and its token counts; a rerun
reads those files, skips the chunks already there, and a last line cut short by the kill is
ignored (that chunk is redone). A chunk whose request failed is recorded as failed and retried
by the next run. `OUT/progress.json` (counts per worker) is rewritten atomically every 10
chunks, so the last good copy survives a full disk. At the end `OUT/generated.jsonl` (the
seed's fields: instruction, input, output, type; plus chunk_id, language, generator) and
`OUT/rejects.jsonl` (replies that are not the asked JSON, with the reason) are written whole,
one entry per chunk however many runs it took.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from harness.encoding import user_encoding
from harness.errors import HarnessError
from harness.io import atomic_write_json, iter_jsonl, write_jsonl
from harness.korean import has_hangul

log = logging.getLogger(__name__)

TYPES = ("fact", "scenario", "easy")
SHARDS = "shards"
PROGRESS = "progress.json"
GENERATED = "generated.jsonl"
REJECTS = "rejects.jsonl"
SAVE_EVERY = 10

PROMPTS = {
    "en": (
        "You write training data for an insurance assistant. Read the policy clause below and write "
        "three question/answer pairs that the clause alone answers:\n"
        "1. type \"fact\": a direct question about what the clause says;\n"
        "2. type \"scenario\": a policyholder's situation in everyday words, answered by the clause;\n"
        "3. type \"easy\": a simple question a first-time reader would ask.\n"
        "Answers must be complete sentences that only use the clause. Reply with JSON only, in this "
        "shape: {\"pairs\": [{\"type\": \"fact\", \"question\": \"...\", \"answer\": \"...\"}, ...]}\n"
        "(If you cannot write JSON, write each pair as a \"Question: ...\" line and an \"Answer: ...\" line.)\n\n"
        "Clause ({breadcrumbs}):\n{text}"),
    "ko": (
        "보험 상담 도우미의 학습 데이터를 만듭니다. 아래 약관 조항을 읽고, 이 조항만으로 답할 수 있는 "
        "질문과 답변 세 쌍을 한국어로 쓰십시오.\n"
        "1. type \"fact\": 조항의 내용을 직접 묻는 질문\n"
        "2. type \"scenario\": 보험계약자가 겪은 상황을 일상적인 말로 묻는 질문\n"
        "3. type \"easy\": 처음 읽는 사람이 할 만한 쉬운 질문\n"
        "답변은 조항의 내용만 사용한 완전한 문장이어야 합니다. 다음 형식의 JSON만 답하십시오: "
        "{\"pairs\": [{\"type\": \"fact\", \"question\": \"...\", \"answer\": \"...\"}, ...]}\n"
        "(JSON이 어려우면 각 쌍을 \"질문: ...\" 줄과 \"답변: ...\" 줄로 쓰십시오.)\n\n"
        "조항({breadcrumbs}):\n{text}"),
}


@dataclass(frozen=True)
class GenChunk:
    chunk_id: str
    text: str
    breadcrumbs: str = ""
    document_id: str = ""

    @property
    def language(self) -> str:
        return "ko" if has_hangul(self.text) else "en"


def load_chunks(chunks_file: str | Path | None = None, index_dir: str | Path | None = None) -> list[GenChunk]:
    """Chunks from a chunk JSONL file (ours, or the seed's chunked_data.jsonl: `text` plus an id
    as `chunk_id` or `id`) or from an index folder's chunks.jsonl. Every bad line is an error
    naming file:line."""
    if (chunks_file is None) == (index_dir is None):
        raise HarnessError("give either --chunks FILE or --index DIR")
    path = Path(chunks_file) if chunks_file is not None else Path(index_dir) / "chunks.jsonl"
    if index_dir is not None and not path.is_file():
        raise HarnessError("not an index folder (no chunks.jsonl); build one with `harness index`", index_dir)
    chunks, seen = [], set()
    # An index's chunks.jsonl is ours (UTF-8); a --chunks file is the user's (--encoding).
    for line, obj in iter_jsonl(path, user_encoding() if chunks_file is not None else "utf-8"):
        if not isinstance(obj, dict):
            raise HarnessError("a chunk must be a JSON object", path, line)
        text = obj.get("text")
        cid = obj.get("chunk_id", obj.get("id"))
        if not isinstance(text, str) or not text.strip():
            raise HarnessError("a chunk needs a non-empty 'text'", path, line)
        if cid is None or isinstance(cid, (dict, list)) or str(cid) == "":
            raise HarnessError("a chunk needs a 'chunk_id' (or 'id')", path, line)
        cid = str(cid)
        if cid in seen:
            raise HarnessError(f"duplicate chunk id {cid!r}", path, line)
        seen.add(cid)
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        chunks.append(GenChunk(cid, text, str(meta.get("breadcrumbs") or obj.get("title") or ""),
                               str(obj.get("document_id") or "")))
    if not chunks:
        raise HarnessError("no chunks", path)
    return chunks


def shard(items: Sequence, workers: int) -> list[list]:
    """Consecutive slices of ceil(total / workers) items, one per worker (the last may be short
    or empty): the same chunks go to the same worker on every run."""
    size = max(1, math.ceil(len(items) / max(1, workers)))
    return [list(items[i * size:(i + 1) * size]) for i in range(max(1, workers))]


def prompt_messages(chunk: GenChunk) -> list[dict[str, str]]:
    template = PROMPTS[chunk.language]
    return [{"role": "user", "content": template.replace("{breadcrumbs}", chunk.breadcrumbs or chunk.document_id or "-")
             .replace("{text}", chunk.text)}]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_reply(text: str) -> tuple[list[dict], list[str]]:
    """(pairs, problems) from a generator's reply: the first JSON object or list in it (code
    fences allowed), each pair checked. A reply with no usable JSON gives ([], [reason])."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    data = None
    for candidate in candidates:
        data = _first_json(candidate)
        if data is not None:
            break
    if data is None:
        lined = _line_pairs(text)  # small local models rarely keep to JSON; "Q: … A: …" lines do
        return (lined, []) if lined else ([], ["the reply holds no JSON object (nor Question:/Answer: lines)"])
    raw = data.get("pairs") if isinstance(data, dict) else data
    if isinstance(data, dict) and raw is None and {"question", "answer"} <= set(data):
        raw = [data]
    if not isinstance(raw, list):
        return [], ["the JSON has no 'pairs' list"]
    pairs, problems = [], []
    for i, p in enumerate(raw):
        if not isinstance(p, dict):
            problems.append(f"pairs[{i}] is not an object")
            continue
        q, a, t = p.get("question"), p.get("answer"), str(p.get("type") or "").strip().lower()
        if not isinstance(q, str) or not q.strip() or not isinstance(a, str) or not a.strip():
            problems.append(f"pairs[{i}] lacks a question or an answer")
            continue
        if t not in TYPES:
            problems.append(f"pairs[{i}] has type {p.get('type')!r}, not one of {', '.join(TYPES)}")
            continue
        pairs.append({"type": t, "question": q.strip(), "answer": a.strip()})
    if not pairs and not problems:
        problems.append("the 'pairs' list is empty")
    return pairs, problems


_Q = re.compile(r"^\s*(?:\d+[.)]\s*)?(?:\*\*)?(?:Q|Question|질문)\s*(?:\d+)?\s*(?:\*\*)?\s*[:：]\s*(.+)$", re.I)
_A = re.compile(r"^\s*(?:\*\*)?(?:A|Answer|답변|답)\s*(?:\d+)?\s*(?:\*\*)?\s*[:：]\s*(.+)$", re.I)


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if len(text) > 1 and text[0] in "\"“'" and text[-1] in "\"”'" else text


def _line_pairs(text: str) -> list[dict]:
    """Pairs written as "Question: …" / "Answer: …" lines (Q:/A:, 질문:/답변: too), typed fact,
    scenario, easy in order, as the prompt asks for them."""
    pairs, question = [], None
    for line in text.splitlines():
        if (m := _Q.match(line)):
            question = _unquote(m.group(1))
        elif (m := _A.match(line)) and question:
            pairs.append({"type": TYPES[min(len(pairs), len(TYPES) - 1)], "question": question,
                          "answer": _unquote(m.group(1))})
            question = None
    return pairs[: len(TYPES)]


def _first_json(text: str):
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, (dict, list)):
            return value
    return None


@dataclass
class WorkerStats:
    chunks: int = 0
    failed: int = 0
    requests: int = 0
    pairs: int = 0
    rejects: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass
class GenerateResult:
    out: Path
    total: int
    done: int
    failed: int
    skipped: int  # already processed by an earlier run
    pairs: int
    rejects: int
    workers: dict[int, WorkerStats] = field(default_factory=dict)
    retries: int = 0  # requests the backend tried again (429 / 5xx / timeouts)


def reply_key(identity: dict, request) -> str:
    """The cache key of one generator reply: the model's identity (as `harness eval` computes
    it), the messages and the decoding settings that change a reply."""
    from harness.experiment.store import cache_key

    return cache_key({"model": identity, "purpose": "datagen", "messages": request.messages,
                      "decoding": request.decoding.effective()})


def read_done(out: Path) -> dict[str, dict]:
    """chunk id -> its last complete record in the shard files (a torn last line is ignored)."""
    done: dict[str, dict] = {}
    for path in sorted((out / SHARDS).glob("*.jsonl")):
        with path.open("rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    continue  # cut short by a kill: that chunk is done again
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("chunk_id"), str):
                    if rec.get("error") is None or rec["chunk_id"] not in done:
                        done[rec["chunk_id"]] = rec
    return done


def generate_pairs(chunks: Sequence[GenChunk], backend, generator: str, out: str | Path, workers: int = 1,
                   decoding=None, progress: Callable[[int], None] | None = None,
                   lock_backend: bool = False, store=None, identity: dict | None = None) -> GenerateResult:
    """Run (or resume) generation over `chunks` into `out`; see the module docstring."""
    from harness.backends.base import GenRequest, Generation
    from harness.config import DecodingConfig

    out = Path(out)
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    decoding = decoding or DecodingConfig(max_new_tokens=512)
    previous = read_done(out)
    finished = {cid for cid, rec in previous.items() if rec.get("error") is None}
    todo = [c for c in chunks if c.chunk_id not in finished]
    stats = {w: WorkerStats() for w in range(max(1, workers))}
    state_lock, backend_lock = threading.Lock(), threading.Lock()
    counter = {"since_save": 0}
    # Each run writes its own files: a rerun never appends after a line its killed predecessor tore.
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def save_progress() -> None:
        counts = {str(w): vars(s) for w, s in stats.items()}
        try:
            atomic_write_json(out / PROGRESS, {"generator": generator, "total": len(chunks),
                                               "already_done": len(chunks) - len(todo), "workers": counts})
        except OSError as e:  # a full disk: the last good progress file stays, the run goes on
            log.warning("could not save %s (%s); the previous copy is kept", out / PROGRESS, e)

    def work(w: int, mine: list[GenChunk]) -> None:
        s = stats[w]
        path = out / SHARDS / f"worker-{w:03d}-{run_id}.jsonl"
        with path.open("a", encoding="utf-8") as f:
            for chunk in mine:
                request = GenRequest(request_id=chunk.chunk_id, messages=prompt_messages(chunk),
                                     language=chunk.language, decoding=decoding)
                started = time.perf_counter()
                key = reply_key(identity, request) if store is not None and identity is not None else None
                cached = store.get(key) if key else None
                if cached is not None:  # the same generator asked the same thing before (`harness eval`'s cache)
                    g = Generation(cached["text"], cached.get("prompt_tokens", 0), cached.get("completion_tokens", 0))
                elif lock_backend:
                    with backend_lock:
                        g = backend.generate([request])[0]
                else:
                    g = backend.generate([request])[0]
                if key and cached is None and g.error is None:
                    store.put(key, {"text": g.text, "prompt_tokens": g.prompt_tokens,
                                    "completion_tokens": g.completion_tokens, "finish_reason": g.finish_reason})
                pairs, problems = ([], []) if g.error else parse_reply(g.text)
                record = {"chunk_id": chunk.chunk_id, "worker": w, "language": chunk.language,
                          "error": g.error, "pairs": pairs,
                          "rejects": [{"reason": p, "reply": g.text} for p in problems],
                          "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
                with state_lock:
                    s.requests += 1
                    s.seconds += time.perf_counter() - started
                    s.prompt_tokens += g.prompt_tokens
                    s.completion_tokens += g.completion_tokens
                    if g.error:
                        s.failed += 1
                    else:
                        s.chunks += 1
                        s.pairs += len(pairs)
                        s.rejects += len(problems)
                    counter["since_save"] += 1
                    if counter["since_save"] >= SAVE_EVERY:
                        counter["since_save"] = 0
                        save_progress()
                if progress:
                    progress(1)

    errors: list[BaseException] = []

    def guarded(w: int, mine: list[GenChunk]) -> None:
        try:
            work(w, mine)
        except BaseException as e:  # noqa: BLE001 - reported once the other workers stop
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(w, mine), name=f"datagen-{w}", daemon=True)
               for w, mine in enumerate(shard(todo, workers)) if mine]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    save_progress()
    if errors:
        e = errors[0]
        raise HarnessError(f"a generation worker stopped: {type(e).__name__}: {e}; rerun to resume") from None
    return finish(out, chunks, generator, stats, skipped=len(chunks) - len(todo))


def finish(out: Path, chunks: Sequence[GenChunk], generator: str, stats: dict, skipped: int) -> GenerateResult:
    """generated.jsonl and rejects.jsonl from every run's shard files, in chunk order, one
    entry per chunk."""
    done = read_done(out)
    by_id = {c.chunk_id: c for c in chunks}
    pairs, rejects = [], []
    failed = 0
    for c in chunks:
        rec = done.get(c.chunk_id)
        if rec is None:
            continue
        if rec.get("error") is not None:
            failed += 1
            rejects.append({"chunk_id": c.chunk_id, "reason": f"request failed: {rec['error']}", "reply": ""})
            continue
        for p in rec.get("pairs", []):
            pairs.append({"instruction": p["question"], "input": by_id[c.chunk_id].text, "output": p["answer"],
                          "type": p["type"], "chunk_id": c.chunk_id, "language": rec.get("language", c.language),
                          "generator": generator})
        rejects.extend({"chunk_id": c.chunk_id, **r} for r in rec.get("rejects", []))
    write_jsonl(out / GENERATED, pairs)
    write_jsonl(out / REJECTS, rejects)
    n_done = sum(1 for c in chunks if c.chunk_id in done and done[c.chunk_id].get("error") is None)
    return GenerateResult(out, len(chunks), n_done, failed, skipped, len(pairs), len(rejects), stats)


def run_generate(cfg, progress_factory=None) -> GenerateResult:
    """`harness data generate`: load the chunks, start the generator's backend, generate (or
    resume) into cfg.out."""
    from harness.backends.base import BackendOptions, create_backend
    from harness.config import DecodingConfig
    from harness.models import ModelSpec

    if cfg.index:
        from retrieval.index import ensure_index

        ensure_index(cfg.index)  # a shipped corpus's index is built on first use
    chunks = load_chunks(cfg.chunks or None, cfg.index or None)
    if cfg.limit:
        chunks = chunks[: cfg.limit]
    backend_name, _, model = cfg.generator.partition(":")
    options = BackendOptions(api_base=cfg.api_base, api_key_env=cfg.api_key_env, concurrency=1,
                             request_timeout=cfg.request_timeout, max_retries=cfg.max_retries,
                             retry_backoff=cfg.retry_backoff, retry_max_wait=cfg.retry_max_wait)
    spec = ModelSpec(name="base", base_model=model)
    backend = create_backend(backend_name, spec, options)
    decoding = DecodingConfig(max_new_tokens=cfg.max_new_tokens, do_sample=cfg.temperature > 0,
                              temperature=cfg.temperature if cfg.temperature > 0 else 1.0)
    store = identity = None
    if cfg.cache:
        from harness.experiment.store import JsonlStore

        find_identity = getattr(type(backend), "identity", None)
        identity = find_identity(spec, options) if find_identity else None
        store = JsonlStore(Path(cfg.cache_dir) / "generations.jsonl")
    bar = progress_factory(len(chunks)) if progress_factory else None
    try:
        result = generate_pairs(chunks, backend, cfg.generator, cfg.out, cfg.workers, decoding,
                                progress=bar.update if bar else None,
                                lock_backend=backend_name != "openai",  # in-process models are not thread-safe
                                store=store, identity=identity)
    finally:
        if bar:
            bar.close()
        backend.close()
    result.retries = getattr(backend, "retries", 0)
    return result
