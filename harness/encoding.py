"""Text encodings of the user's files: UTF-8 (with or without a byte-order mark) everywhere by
default; CP949/EUC-KR and UTF-16 recognised and named; mojibake found and repaired with ftfy.

Every reader decodes through `decode()`, so one `--encoding` setting (utf-8, auto, or a codec
name such as cp949) applies to eval sets, answer files, corpora, training data and configs.
Offsets (chunk `start`/`end`, evidence spans) are character offsets into the decoded text.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.errors import HarnessError

DEFAULT = "utf-8"
# What `harness index` does with a corpus file that has mojibake (IndexConfig.mojibake).
MOJIBAKE_POLICIES = ("refuse", "repair", "keep")
# The setting every reader uses unless told otherwise: the CLI's --encoding, else $HARNESS_ENCODING.
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("harness_encoding", default=None)

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

ENCODING_HELP = ("How input files are decoded: utf-8 (default; a byte-order mark is skipped), auto "
                 "(UTF-8, UTF-16 or CP949/EUC-KR, recognised from the bytes), or any Python codec name "
                 "(cp949, euc-kr, utf-16, latin-1). Also $HARNESS_ENCODING.")


def user_encoding() -> str:
    """The encoding setting in force: --encoding, else $HARNESS_ENCODING, else utf-8. Readers of
    the user's own files (eval sets, answers, corpora, training data, configs, models.json) pass
    it on; the harness's own files are always read as UTF-8."""
    return _current.get() or os.environ.get("HARNESS_ENCODING") or DEFAULT


@contextlib.contextmanager
def using(encoding: str | None) -> Iterator[None]:
    """Read files under `encoding` inside the block (None leaves the setting alone)."""
    if encoding is None:
        yield
        return
    check_name(encoding)
    token = _current.set(encoding)
    try:
        yield
    finally:
        _current.reset(token)


def set_current(encoding: str | None) -> None:
    """For the CLI: the --encoding of this command, for the rest of the process (None: back to
    $HARNESS_ENCODING, else utf-8)."""
    if encoding is not None:
        check_name(encoding)
    _current.set(encoding)


def check_name(encoding: str) -> str:
    if encoding == "auto":
        return encoding
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise HarnessError(f"unknown encoding {encoding!r}; use utf-8, auto, cp949, euc-kr, utf-16 "
                           "or another Python codec name") from None
    return encoding


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _looks_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def guess(data: bytes) -> str | None:
    """The likely encoding of bytes that are not UTF-8: utf-16 (by byte-order mark or NUL pattern),
    cp949 (decodes cleanly and its non-ASCII characters are mostly Hangul), else None."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _looks_utf16(data)
    if utf16:
        return utf16
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        return None
    non_ascii = _NON_ASCII.findall(text)
    if non_ascii and len(_HANGUL.findall(text)) >= 0.6 * len(non_ascii):
        return "cp949"
    return None


_LABELS = {"cp949": "CP949/EUC-KR (Korean)", "utf-16": "UTF-16", "utf-16-le": "UTF-16 (little-endian, no BOM)",
           "utf-16-be": "UTF-16 (big-endian, no BOM)"}


def decode(data: bytes, path: str | Path | None = None, encoding: str | None = None) -> tuple[str, str]:
    """Bytes -> (text, the encoding used). `encoding` defaults to the current setting.

    utf-8 reads UTF-8 with or without a byte-order mark and refuses anything else with a message
    naming the likely encoding and the flag that reads it; auto reads UTF-8, UTF-16 and CP949;
    a codec name reads exactly that codec (strict)."""
    encoding = encoding or user_encoding()
    if encoding == "auto":
        if data.startswith(codecs.BOM_UTF8):
            return _strict(data, "utf-8-sig", path), "utf-8-sig"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        name = guess(data)
        if name is None:
            raise HarnessError("not UTF-8, UTF-16 or CP949/EUC-KR; name the encoding with --encoding NAME "
                               "(e.g. latin-1, shift_jis)", path)
        return _strict(data, name, path), name
    if codecs.lookup(encoding).name == "utf-8":
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(data):
            raise HarnessError("this file is UTF-16, not UTF-8; read it with --encoding auto "
                               "(or --encoding utf-16)", path)
        try:
            return data.decode("utf-8-sig"), ("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
        except UnicodeDecodeError as e:
            name = guess(data)
            hint = (f"it looks like {_LABELS.get(name, name)}: read it with --encoding auto (or --encoding {name})"
                    if name else "name its encoding with --encoding NAME (e.g. cp949, latin-1)")
            raise HarnessError(f"not valid UTF-8 (byte 0x{data[e.start]:02x}); {hint}", path,
                               _line_of(data, e.start)) from None
    return _strict(data, encoding, path), encoding


def _strict(data: bytes, encoding: str, path: str | Path | None) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise HarnessError(f"not valid {encoding} (byte 0x{data[e.start]:02x} at offset {e.start}); "
                           "try --encoding auto", path, _line_of(data, e.start)) from None


def read_text(path: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """A whole file as text, exactly (no newline translation): (text, encoding used)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError("file not found", path) from None
    except IsADirectoryError:
        raise HarnessError("expected a file, got a folder", path) from None
    return decode(data, path, encoding)


# --- mojibake: UTF-8 bytes that were once decoded as cp1252 / latin-1 ---------------------------

@dataclass(frozen=True)
class Mojibake:
    """What ftfy found: the repaired text, the steps it took, and an example of each."""

    fixed: str
    steps: tuple[str, ...]
    example_bad: str
    example_fixed: str
    lost: int  # characters the repair could not recover (U+FFFD in the repaired text, beyond the input's)

    def describe(self) -> str:
        return (f"looks like mojibake (UTF-8 read as {self.steps[0] if self.steps else 'cp1252'}): "
                f"{self.example_bad!r} is {self.example_fixed!r}"
                + (f"; {self.lost} character(s) cannot be recovered" if self.lost else ""))


def find_mojibake(text: str) -> Mojibake | None:
    """None for clean text; else ftfy's repair. Only ftfy's encoding fixes count (not its
    typographic clean-ups), so clean text in any language is left alone."""
    import ftfy

    # Line by line: ftfy decides per segment, and one line of mojibake in a long clean file is
    # still mojibake. Lines are kept with their endings, so joining them gives the text back.
    lines = text.splitlines(keepends=True)
    fixed_lines, steps, example = [], [], None
    for line in lines:
        result = ftfy.fix_encoding_and_explain(line)
        if result.explanation and result.text != line:
            for step in result.explanation:
                if step[0] == "encode" and step[1] not in steps:
                    steps.append(step[1])
            if example is None:
                example = (line.strip()[:60], result.text.strip()[:60])
            fixed_lines.append(result.text)
        else:
            fixed_lines.append(line)
    if example is None:
        return None
    fixed = "".join(fixed_lines)
    lost = max(0, fixed.count("\ufffd") - text.count("\ufffd"))
    pretty = [s.replace("sloppy-windows-1252", "cp1252") for s in steps]
    return Mojibake(fixed, tuple(pretty), example[0], example[1], lost)
