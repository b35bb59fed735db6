"""Cut policy documents into chunks along their own structure, with `text == source[start:end]`.

A document is read as blocks: headings (markdown `#`, `제N조(…)`, `Article N`) and clauses
(a paragraph or a line that starts with a marker: `A.`, `1.`, `a.`, `(1)`, `(a)`, `①`, `가.`).
Blocks under one heading are merged into chunks up to a token budget; an article always
starts a new chunk; a clause longer than the budget is split at sentence ends with overlap.
Each chunk carries breadcrumbs such as `Dwelling Form > V. Exclusions > C.` and a contextual
header (title and breadcrumbs) that is embedded with it, so near-identical forms differ.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from harness.config import ChunkConfig
from harness.encoding import MOJIBAKE_POLICIES, Mojibake, find_mojibake, read_text
from harness.errors import HarnessError
from harness.io import content_hash, iter_jsonl
from harness.paths import check_name, inside

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document_id: str
    start: int
    end: int
    text: str
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Block:
    """A heading line or a clause/paragraph: [start, end) in the source, stripped of surrounding space."""

    start: int
    end: int
    heading: str | None  # heading text without markdown '#', or None for a clause/paragraph
    level: int  # 0: title-like heading, 1: article, 2..6: section / clause depth; -1: unmarked paragraph
    label: str = ""  # what the block adds to the breadcrumbs: the heading text or the clause marker


ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
         "XVI", "XVII", "XVIII", "XIX", "XX"]
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")
_KO_ARTICLE = re.compile(r"^제\s*\d+\s*조(?:의\s*\d+)?\s*(?:\(.*\)|【.*】)?\s*\S{0,40}$")
_EN_ARTICLE = re.compile(r"^(?:Article|ARTICLE|Section|SECTION)\s+[\dIVXLC]+\b.{0,80}$")
_HEADING_MARKER = re.compile(r"^([IVXLC]+|[A-Z]|\d+|[a-z])\.\s")
# Clause markers at the start of a paragraph or line, with their depth.
_CLAUSE_MARKERS: list[tuple[re.Pattern, int]] = [
    (re.compile(r"^([A-Z])\.\s"), 2),
    (re.compile(r"^([①-⑳])\s?"), 2),          # Korean 항
    (re.compile(r"^(\d{1,2})\.\s"), 3),          # 1. (English clause, Korean 호)
    (re.compile(r"^([a-z])\.\s"), 4),
    (re.compile(r"^([가-하])\.\s"), 4),         # Korean 목
    (re.compile(r"^\((\d{1,2})\)\s"), 5),
    (re.compile(r"^\(([a-z]{1,4})\)\s"), 6),
]
# Sentence ends: . ? ! 。 followed by space (Korean sentences end in 다. / 요. and are covered).
_SENTENCE_END = re.compile(r"(?<=[.?!。])\s+")
_WORDS = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """Words and punctuation marks: a close, tokenizer-free stand-in for WordPiece counts."""
    return len(_WORDS.findall(text))


def read_document(path: str | Path, encoding: str | None = None) -> str:
    """Read a source file exactly (no newline translation: \\r\\n stays), so offsets index the
    file's characters; decoded under the --encoding setting."""
    return load_document(path, encoding).text


@dataclass(frozen=True)
class SourceText:
    text: str  # as read, or ftfy's repair of it when `mojibake` is set
    encoding: str  # what the bytes were decoded as
    mojibake: Mojibake | None = None  # what ftfy found and repaired


def load_document(path: str | Path, encoding: str | None = None, repair_mojibake: bool = False) -> SourceText:
    """A corpus file as text; with repair_mojibake, ftfy's repair of a file that has mojibake
    (offsets then index the repaired text)."""
    path = Path(path)
    if not path.exists():
        raise HarnessError("corpus file not found", path)
    text, used = read_text(path, encoding)
    found = find_mojibake(text) if repair_mojibake else None
    return SourceText(found.fixed, used, found) if found else SourceText(text, used)


def clause_marker(text: str) -> tuple[str, int] | None:
    """('C.', 2) for a clause that starts with a marker, else None."""
    for pattern, level in _CLAUSE_MARKERS:
        m = pattern.match(text)
        if m:
            marker = m.group(1)
            label = marker if pattern.pattern.startswith("^([①") else (
                f"({marker})" if pattern.pattern.startswith("^\\(") else f"{marker}.")
            return label, level
    return None


def _heading_level(heading: str, next_roman: str) -> int:
    if heading.startswith("제") and _KO_ARTICLE.match(heading):
        return 1
    if _EN_ARTICLE.match(heading):
        return 1
    m = _HEADING_MARKER.match(heading + " ")
    if not m:
        return 0
    marker = m.group(1)
    # "I." is both the first article and the ninth lettered section; only the next expected
    # roman numeral counts as an article (VII.I "No Benefit to Bailee" stays a section).
    if marker == next_roman:
        return 1
    if len(marker) == 1 and marker.isupper():
        return 2
    if marker.isdigit():
        return 3
    if len(marker) == 1 and marker.islower():
        return 4
    return 2


def split_blocks(text: str) -> list[Block]:
    """Headings are blocks of their own; a line starting with a clause marker starts a new
    block; other non-blank lines continue the current paragraph; blank lines end it."""
    blocks: list[Block] = []
    next_roman_idx = 0
    cur: list | None = None  # [start, end, label, level]

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            blocks.append(Block(cur[0], cur[1], None, cur[3], cur[2]))
        cur = None

    pos = 0
    for line in text.splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        stripped = line.strip()
        if not stripped:
            flush()
            continue
        s = line_start + (len(line) - len(line.lstrip()))
        e = s + len(stripped)
        md = _MD_HEADING.match(stripped)
        heading = md.group(1) if md else (stripped if (_KO_ARTICLE.match(stripped) or _EN_ARTICLE.match(stripped)) else None)
        if heading is not None:
            flush()
            next_roman = ROMAN[next_roman_idx] if next_roman_idx < len(ROMAN) else ""
            level = _heading_level(heading, next_roman)
            if level == 1 and heading.split(".")[0] == next_roman:
                next_roman_idx += 1
            blocks.append(Block(s, e, heading, level, heading))
            continue
        marker = clause_marker(stripped)
        if marker is not None or cur is None:
            flush()
            label, level = marker if marker else ("", -1)
            cur = [s, e, label, level]
        else:
            cur[1] = e
    flush()
    return blocks


def document_title(blocks: list[Block], text: str, default: str) -> str:
    """The last title-like heading before the first article ("Dwelling Form"); else a short
    first line standing alone ("표준홍수보험 주택용 약관 (발췌 번역)"); else `default`."""
    title = None
    for b in blocks:
        if b.heading is None:
            continue
        if b.level == 1:
            break
        if b.level == 0:
            title = b.heading
    if title:
        return title
    first = blocks[0] if blocks else None
    if first is not None and first.heading is None and first.level == -1:
        line = text[first.start:first.end]
        if "\n" not in line and len(line) <= 100:
            return line
    return default


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    from harness import korean

    if korean.has_hangul(text[start:end]):
        # Korean clauses often end a sentence without punctuation ("…지급합니다 다만 …"): the analyser's split.
        found = korean.sentence_spans(text[start:end])
        if found is not None:
            return [(start + a, start + b) for a, b in found if b > a]
    spans, s = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((s, m.start()))
        s = m.end()
    if s < end:
        spans.append((s, end))
    return [(a, b) for a, b in spans if b > a]


def _hard_split(text: str, start: int, end: int, max_tokens: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Split one over-long sentence at spaces (or anywhere, if it has none)."""
    pieces, s = [], start
    while s < end:
        e = end
        while e > s + 1 and count(text[s:e]) > max_tokens:
            space = text.rfind(" ", s + 1, s + (e - s) * 3 // 4)
            e = space if space > s else s + (e - s) * 3 // 4
        while e > s + 1 and text[e - 1].isspace():  # a run of spaces: end before all of them
            e -= 1
        pieces.append((s, e))
        s = e
        while s < end and text[s].isspace():
            s += 1
    return pieces


def split_long(text: str, start: int, end: int, config: ChunkConfig, count: TokenCounter) -> list[tuple[int, int]]:
    """Windows of whole sentences of at most max_tokens; each window after the first starts
    with the previous window's last sentences worth about overlap_tokens."""
    units: list[tuple[int, int]] = []
    for a, b in _sentences(text, start, end):
        units.extend(_hard_split(text, a, b, config.max_tokens, count) if count(text[a:b]) > config.max_tokens else [(a, b)])
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and count(text[units[i][0]:units[j + 1][1]]) <= config.max_tokens:
            j += 1
        windows.append((units[i][0], units[j][1]))
        if j + 1 >= len(units):
            break
        back = j
        while back > i + 1 and count(text[units[back - 1][0]:units[j][1]]) <= config.overlap_tokens:
            back -= 1
        nxt = back if config.overlap_tokens and count(text[units[back][0]:units[j][1]]) <= config.overlap_tokens else j + 1
        i = max(nxt, i + 1)
    return windows


def embed_text(chunk: Chunk, config: ChunkConfig) -> str:
    """What the retrievers see: the chunk text, with its breadcrumbs in front when configured."""
    if config.context_header and chunk.metadata.get("breadcrumbs"):
        return f"{chunk.metadata['breadcrumbs']}\n{chunk.text}"
    return chunk.text


def chunk_document(text: str, document_id: str, config: ChunkConfig | None = None, source: str = "",
                   count_tokens: TokenCounter | None = None) -> list[Chunk]:
    config = config or ChunkConfig()
    count = count_tokens or approx_tokens
    blocks = split_blocks(text)
    title = document_title(blocks, text, document_id)
    crumbs: dict[int, str] = {}

    def apply(b: Block) -> None:
        if b.level >= 1:
            for lvl in [lvl for lvl in crumbs if lvl >= b.level]:
                del crumbs[lvl]
            crumbs[b.level] = b.label

    def breadcrumbs() -> str:
        return " > ".join([title] + [crumbs[lvl] for lvl in sorted(crumbs)])

    spans: list[tuple[int, int, str]] = []
    cur: list | None = None  # [start, end, breadcrumbs, tokens]

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            spans.append((cur[0], cur[1], cur[2]))
        cur = None

    for b in blocks:
        if b.heading is not None and b.level == 1:
            flush()  # an article never shares a chunk with the one before it
        elif b.heading is not None and 2 <= b.level <= 3 and cur is not None and cur[3] >= config.min_tokens:
            flush()
        apply(b)
        tokens = count(text[b.start:b.end])
        if tokens > config.max_tokens:
            flush()
            for ps, pe in split_long(text, b.start, b.end, config, count):
                spans.append((ps, pe, breadcrumbs()))
            continue
        if cur is not None and cur[3] + tokens > config.max_tokens:
            flush()
        if cur is None:
            cur = [b.start, b.end, breadcrumbs(), tokens]
        else:
            cur[1], cur[3] = b.end, cur[3] + tokens
    flush()

    chunks = []
    for start, end, crumb in spans:
        piece = text[start:end]
        chunks.append(Chunk(
            chunk_id=content_hash({"document_id": document_id, "start": start, "end": end}),
            document_id=document_id, start=start, end=end, text=piece,
            metadata={"source": source or document_id, "title": title, "breadcrumbs": crumb,
                      "token_count": count(piece), "char_count": end - start},
        ))
    return chunks


def corpus_files(paths: list[str] | tuple[str, ...], patterns: tuple[str, ...] = ("*.txt",),
                 follow_symlinks: bool = False) -> list[Path]:
    """Expand files and folders (a folder gives its `patterns` files, sorted) and check them.
    A link in a folder that leads outside it is refused unless `follow_symlinks`: a corpus
    folder should not pull in files from elsewhere on the machine unnoticed."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted({x for pat in patterns for x in p.glob(pat) if x.is_file()})
            if not found:
                raise HarnessError(f"no {' or '.join(patterns)} files in this folder", p)
            if not follow_symlinks:
                for x in found:
                    if not inside(p, x):
                        raise HarnessError(f"a link to {x.resolve()}, outside the corpus folder; "
                                           "follow it with --follow-symlinks, or copy the file in", x)
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise HarnessError("corpus path not found", p)
    seen: dict[str, Path] = {}
    for f in files:
        check_name(f.stem, "document id (the file name)", f, strict=False)
        if f.stem in seen:
            raise HarnessError(f"two corpus files have the document id {f.stem!r} (also {seen[f.stem]}); rename one", f)
        seen[f.stem] = f
    return files


CHUNKED_SEPARATOR = "\n\n"


def read_prechunked(path: Path, encoding: str | None = None) -> dict[str, list[dict]]:
    """Chunks already made elsewhere, in the seed's chunked_data.jsonl schema:
    {"chunk_id", "text", "metadata": {"source", "company", "breadcrumbs", "token_count", "policy_type"}}.
    Grouped by metadata.source (else the file stem), in file order."""
    groups: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for line, obj in iter_jsonl(path, encoding):
        text, meta, cid = obj.get("text"), obj.get("metadata", {}), obj.get("chunk_id")
        if not isinstance(text, str) or not text.strip():
            raise HarnessError("a chunk needs a non-empty 'text'", path, line)
        if not isinstance(meta, dict):
            raise HarnessError("'metadata' must be an object", path, line)
        if cid is not None and not isinstance(cid, str):
            raise HarnessError("'chunk_id' must be a string", path, line)
        if cid is not None:  # chunks without an id get one from their place (prechunked_document)
            if cid in seen:
                raise HarnessError(f"duplicate chunk_id {cid!r}", path, line)
            seen.add(cid)
        # A document id from the data is made a plain file-name-like word (no separators, no
        # leading dots), so it can never name a path outside a folder.
        doc = re.sub(r"[^\w.-]+", "_", str(meta.get("source") or path.stem)).strip("_.") or path.stem
        groups.setdefault(doc, []).append(obj)
    return groups


def prechunked_document(document_id: str, rows: list[dict], source: str, count: TokenCounter) -> tuple[str, list[Chunk]]:
    """Chunks taken as they are. Their document is the chunks' texts joined by a blank line,
    so `text == document[start:end]` holds here too."""
    parts, chunks, pos = [], [], 0
    for row in rows:
        text = row["text"]
        start, end = pos, pos + len(text)
        meta = dict(row.get("metadata") or {})
        meta.setdefault("source", source)
        meta.setdefault("title", str(meta.get("policy_type") or meta.get("company") or document_id))
        meta.setdefault("breadcrumbs", "")
        meta.setdefault("token_count", count(text))
        meta["char_count"] = end - start
        cid = row.get("chunk_id") or content_hash({"document_id": document_id, "start": start, "end": end})
        chunks.append(Chunk(cid, document_id, start, end, text, meta))
        parts.append(text)
        pos = end + len(CHUNKED_SEPARATOR)
    return CHUNKED_SEPARATOR.join(parts), chunks


def chunk_corpus(paths: list[str] | tuple[str, ...], config: ChunkConfig | None = None,
                 count_tokens: TokenCounter | None = None, encoding: str | None = None,
                 mojibake: str = "refuse", follow_symlinks: bool = False,
                 on_repaired: Callable[[Path, str], None] | None = None) -> tuple[list[Chunk], list[dict]]:
    """Chunk every file; returns the chunks and one record per document (id, path, sha256 of the
    text, chars, the encoding it was read in, and whether mojibake was repaired). `.jsonl` files
    hold chunks made elsewhere and are taken as they are. mojibake: refuse (default: name every
    file that has it), repair or keep; see load_document. `on_repaired(path, text)` is given each
    repaired text (the index keeps a copy for the user to read)."""
    if mojibake not in MOJIBAKE_POLICIES:
        raise HarnessError(f"mojibake must be one of {', '.join(MOJIBAKE_POLICIES)}, got {mojibake!r}")
    count = count_tokens or approx_tokens
    chunks: list[Chunk] = []
    documents: list[dict] = []

    def add(document_id: str, path: Path, text: str, doc_chunks: list[Chunk], kind: str, extra: dict) -> None:
        chunks.extend(doc_chunks)
        documents.append({
            "document_id": document_id, "path": str(path), "kind": kind,
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "chars": len(text),
            "title": doc_chunks[0].metadata["title"] if doc_chunks else document_id, "n_chunks": len(doc_chunks),
        } | extra)

    garbled: list[tuple[Path, SourceText]] = []
    for f in corpus_files(paths, follow_symlinks=follow_symlinks):
        if f.suffix == ".jsonl":
            for doc_id, rows in read_prechunked(f, encoding).items():
                text, doc_chunks = prechunked_document(doc_id, rows, f.name, count)
                add(doc_id, f, text, doc_chunks, "prechunked", {})
            continue
        source = load_document(f, encoding, repair_mojibake=mojibake != "keep")
        if source.mojibake and mojibake == "refuse":
            garbled.append((f, source))
            continue
        text = source.text
        if not text.strip():
            raise HarnessError("corpus file is empty", f)
        extra = {"encoding": source.encoding}
        if source.mojibake:
            extra["mojibake_repaired"] = {"steps": list(source.mojibake.steps), "lost_characters": source.mojibake.lost}
            if on_repaired:
                on_repaired(f, text)
        add(f.stem, f, text, chunk_document(text, f.stem, config, source=f.name, count_tokens=count), "text", extra)
    if garbled:
        f, source = garbled[0]
        others = f" (and {len(garbled) - 1} more: {', '.join(g.name for g, _ in garbled[1:4])})" if len(garbled) > 1 else ""
        raise HarnessError(f"{source.mojibake.describe()}{others}; index the repaired text with --repair-mojibake "
                           "(or as it is with --keep-mojibake)", f)
    ids = [d["document_id"] for d in documents]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise HarnessError(f"document id(s) {', '.join(sorted(dupes))} come from more than one file; rename one")
    return chunks, documents
