"""Cut policy documents into chunks whose text is always `source[start:end]`.

Headings start new chunks, short paragraphs are merged up to a size budget, and a paragraph
longer than the budget is split at sentence ends. Each chunk carries the breadcrumbs of the
headings above it ("Dwelling Form > V. Exclusions > C."). The structure-aware chunker of the
retrieval issue refines this; the chunk record itself is final.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.config import ChunkConfig
from harness.errors import HarnessError
from harness.io import content_hash


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
    """A heading line or a paragraph: [start, end) in the source, stripped of surrounding space."""

    start: int
    end: int
    heading: str | None  # heading text without markdown '#', or None for a paragraph
    level: int  # 0: title-like heading, 1: article, 2: section (A.), 3: clause (1.), 4: item (a.)


ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
         "XVI", "XVII", "XVIII", "XIX", "XX"]
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")
_KO_ARTICLE = re.compile(r"^제\s*\d+\s*조(?:의\s*\d+)?\s*(?:\(.*\)|【.*】)?\s*\S{0,40}$")
_EN_ARTICLE = re.compile(r"^(?:Article|ARTICLE|Section|SECTION)\s+[\dIVXLC]+\b.{0,80}$")
_MARKER = re.compile(r"^([IVXLC]+|[A-Z]|\d+|[a-z])\.\s")
# A sentence ends at . ? ! or Korean 다./요. followed by space; splitting there keeps claims whole.
_SENTENCE_END = re.compile(r"(?<=[.?!。])\s+")


def read_document(path: str | Path) -> str:
    """Read a source file exactly (newline='' keeps \\r\\n), so offsets index the file's characters."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise HarnessError("corpus file not found", path) from None
    except UnicodeDecodeError as e:
        raise HarnessError(f"not valid UTF-8 (byte {e.start})", path) from None


def _heading_level(heading: str, next_roman: str) -> int:
    if heading.startswith("제") and _KO_ARTICLE.match(heading):
        return 1
    if _EN_ARTICLE.match(heading):
        return 1
    m = _MARKER.match(heading + " ")
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
    """Headings (markdown '#', 제N조, Article N) are blocks of their own; other consecutive
    non-blank lines form paragraphs; blank lines separate paragraphs."""
    blocks: list[Block] = []
    next_roman_idx = 0
    para_start = para_end = None

    def flush() -> None:
        nonlocal para_start, para_end
        if para_start is not None:
            blocks.append(Block(para_start, para_end, None, -1))
        para_start = para_end = None

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
        if heading is None:
            if para_start is None:
                para_start = s
            para_end = e
            continue
        flush()
        next_roman = ROMAN[next_roman_idx] if next_roman_idx < len(ROMAN) else ""
        level = _heading_level(heading, next_roman)
        if level == 1 and heading.split(".")[0] == next_roman:
            next_roman_idx += 1
        blocks.append(Block(s, e, heading, level))
    flush()
    return blocks


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split [start, end) into pieces of at most max_chars, preferring sentence ends, then spaces."""
    pieces = []
    while end - start > max_chars:
        window = text[start:start + max_chars]
        cut = None
        for m in _SENTENCE_END.finditer(window):
            if m.start() > max_chars // 3:
                cut = m.start()
        if cut is None:
            space = window.rfind(" ", max_chars // 3)
            cut = space if space > 0 else max_chars
        piece_end = start + cut
        pieces.append((start, piece_end))
        start = piece_end
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def document_title(blocks: list[Block], text: str, default: str) -> str:
    """The last title-like heading before the first article ("Dwelling Form"), else `default`."""
    title = default
    for b in blocks:
        if b.heading is None:
            continue
        if b.level == 1:
            break
        if b.level == 0:
            title = b.heading
    return title


def chunk_document(text: str, document_id: str, config: ChunkConfig | None = None, source: str = "") -> list[Chunk]:
    config = config or ChunkConfig()
    blocks = split_blocks(text)
    title = document_title(blocks, text, document_id)
    crumbs: dict[int, str] = {}

    def breadcrumbs() -> str:
        return " > ".join([title] + [crumbs[lvl] for lvl in sorted(crumbs)])

    spans: list[tuple[int, int, str]] = []  # start, end, breadcrumbs
    cur_start: int | None = None
    cur_end = 0
    cur_crumbs = ""

    def flush() -> None:
        nonlocal cur_start
        if cur_start is not None:
            spans.append((cur_start, cur_end, cur_crumbs))
        cur_start = None

    for b in blocks:
        if b.heading is not None:
            if cur_start is not None and cur_end - cur_start >= config.min_chars:
                flush()
            if b.level >= 1:
                for lvl in [lvl for lvl in crumbs if lvl >= b.level]:
                    del crumbs[lvl]
                crumbs[b.level] = b.heading
        pieces = [(b.start, b.end)] if b.end - b.start <= config.max_chars else _split_long(text, b.start, b.end, config.max_chars)
        for ps, pe in pieces:
            if cur_start is not None and pe - cur_start > config.max_chars:
                flush()
            if cur_start is None:
                cur_start, cur_crumbs = ps, breadcrumbs()
            cur_end = pe
    flush()

    chunks = []
    for start, end, crumb in spans:
        chunks.append(Chunk(
            chunk_id=content_hash({"document_id": document_id, "start": start, "end": end}),
            document_id=document_id,
            start=start,
            end=end,
            text=text[start:end],
            metadata={"source": source or document_id, "title": title, "breadcrumbs": crumb, "char_count": end - start},
        ))
    return chunks


def corpus_files(paths: list[str] | tuple[str, ...], pattern: str = "*.txt") -> list[Path]:
    """Expand files and folders (a folder gives its `pattern` files, sorted) and check them."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(x for x in p.glob(pattern) if x.is_file())
            if not found:
                raise HarnessError(f"no {pattern} files in this folder", p)
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise HarnessError("corpus path not found", p)
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise HarnessError(f"two corpus files have the document id {f.stem!r} (also {seen[f.stem]}); rename one", f)
        seen[f.stem] = f
    return files


def chunk_corpus(paths: list[str] | tuple[str, ...], config: ChunkConfig | None = None) -> tuple[list[Chunk], list[dict]]:
    """Chunk every file; returns the chunks and one record per document (id, path, sha256, chars)."""
    import hashlib

    chunks: list[Chunk] = []
    documents: list[dict] = []
    for f in corpus_files(paths):
        text = read_document(f)
        if not text.strip():
            raise HarnessError("corpus file is empty", f)
        doc_chunks = chunk_document(text, f.stem, config, source=f.name)
        chunks.extend(doc_chunks)
        documents.append({
            "document_id": f.stem,
            "path": str(f),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "chars": len(text),
            "title": doc_chunks[0].metadata["title"] if doc_chunks else f.stem,
            "n_chunks": len(doc_chunks),
        })
    return chunks, documents
