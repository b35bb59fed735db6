"""Fuzzing every reader of the user's files (issue 15).

The contract: any input file, however malformed, gives one HarnessError whose text is
`path:line: what is wrong` (the line where it can be known; path alone for whole-file
problems), never another exception; at the CLI, exit code 2, one line on stderr starting
"Error: ", no traceback and no partial result file.

Each test writes hypothesis's example into a file in its own temporary folder and accepts
either a normal return with well-typed results (the example happened to be valid) or a
HarnessError located at the file (and, for JSONL readers, at the line the bad record is on).
"""

from __future__ import annotations

import codecs
import copy
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# The CLI round trips (a click invocation; for a valid file the real command, `harness score`
# with its lexical signals only) cost about 5 ms each, so they get the full 200 examples too.
FUZZ_CLI = FUZZ

# --- strategies ----------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
                | st.floats() | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)

# Text that stays on one line as iter_jsonl counts lines (\n and \r end a line there).
one_line_text = st.text(max_size=80).map(lambda s: s.replace("\n", " ").replace("\r", " "))

HUGE_INT = "1" + "0" * 5000  # past Python's 4300-digit limit on int <-> str
NASTY_LINES = [
    "[" * 5000,
    "{\"a\":" * 5000,
    "[" * 5000 + "]" * 5000,
    HUGE_INT,
    "{\"id\": " + HUGE_INT + "}",
    "{\"x\": -" + HUGE_INT + "}",
    "{\"x\": 1e999999}",
    "{\"x\": NaN, \"y\": -Infinity}",
    "\ufeff{}",
    "{\"a\": \"\u2028\"}\u2028",
    "\x00",
    "{\"a\": \"\x00\"}",
    "{\"a\": \"\\ud800\"}",
    "{\"a\": 1,}",
    "{'a': 1}",
    "null", "true", "[]", "\"text\"", "3",
    "{\"a\": 1} {\"b\": 2}",
    "\x85\x0b\x0c\x1c",
]


def _record_line(rec: Any) -> str:
    return json.dumps(rec, ensure_ascii=False)


@st.composite
def mutated(draw, record: dict) -> Any:
    """`record` with one field (at any depth) replaced by a random JSON value, removed, or one added."""
    rec = copy.deepcopy(record)
    node: Any = rec
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            node[key] = draw(json_values)
        elif action == "delete":
            del node[key]
        elif isinstance(node, dict):
            node[draw(st.text(max_size=8))] = draw(json_values)
        else:
            node.append(draw(json_values))
        break
    return rec


def _with_surrogate(record: dict) -> str:
    """`record` with a lone UTF-16 surrogate in its first string (valid JSON: "\\ud800"; not a character)."""
    rec = copy.deepcopy(record)
    stack: list[Any] = [rec]
    while stack:
        node = stack.pop()
        for key in (list(node) if isinstance(node, dict) else range(len(node))):
            if isinstance(node[key], str):
                node[key] += "\ud800"
                return json.dumps(rec, ensure_ascii=True)
            if isinstance(node[key], (dict, list)):
                stack.append(node[key])
    return json.dumps(rec)


def bad_lines(valid: dict) -> st.SearchStrategy[str]:
    """One line of a JSONL file that is probably wrong."""
    return st.one_of(
        one_line_text,
        json_values.map(_record_line),
        mutated(valid).map(_record_line),
        mutated(valid).map(lambda r: json.dumps(r, ensure_ascii=True)),
        st.sampled_from(NASTY_LINES),
        st.just(_with_surrogate(valid)),
    )


def _insert_bytes(data: bytes, extra: bytes, at: int) -> bytes:
    at = at % (len(data) + 1)
    return data[:at] + extra + data[at:]


weird_bytes = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x00\x00\x00", codecs.BOM_UTF8,
                     codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"\r", b"\r\n", "\u2028".encode(), b"\x85",
                     "약관".encode("cp949"), b"\x80\x81\x82"]),
)


@st.composite
def mangled_bytes(draw, valid_text: str) -> bytes:
    """A valid file's bytes with random bytes inserted, or random bytes, or re-encoded."""
    data = valid_text.encode("utf-8")
    kind = draw(st.sampled_from(["insert", "insert", "random", "utf16", "bom"]))
    if kind == "insert":
        return _insert_bytes(data, draw(weird_bytes), draw(st.integers(min_value=0)))
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "utf16":
        return valid_text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"])))
    return codecs.BOM_UTF8 + data


# --- helpers -------------------------------------------------------------------------------

def run_reader(fn: Callable[[Path], Any], path: Path) -> tuple[Any, HarnessError | None]:
    """Call the reader; a HarnessError is returned, anything else fails the test (re-raised)."""
    try:
        return fn(path), None
    except HarnessError as e:
        return None, e


def check_error(err: HarnessError, path: Path, line: int | None = None) -> None:
    text = str(err)
    assert text.startswith(f"{path}"), f"error does not name the file: {text!r}"
    assert "\n" not in text and "\r" not in text, f"error is not one line: {text!r}"
    if line is not None:
        assert text.startswith(f"{path}:{line}: "), f"error not at line {line}: {text!r}"
    else:
        rest = text[len(str(path)):]
        assert rest.startswith(": ") or (rest.startswith(":") and rest[1:].split(":", 1)[0].isdigit()), text


def read_or_refuse(fn: Callable[[Path], Any], path: Path, valid: Callable[[Any], None] | None = None):
    """Run the reader on any file: what it returns passes `valid`; a refusal names the file in one line."""
    out, err = run_reader(fn, path)
    if err is None:
        if valid is not None:
            valid(out)
    else:
        check_error(err, path)
    return out, err


def jsonl_case(tmp: Path, name: str, prefix: list[dict], bad: str, suffix: list[dict]) -> tuple[Path, int]:
    """Write prefix records, the bad line, suffix records; return (path, the bad line's number)."""
    path = tmp / name
    lines = [_record_line(r) for r in prefix] + [bad] + [_record_line(r) for r in suffix]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(prefix) + 1


def check_jsonl_outcome(result: Any, err: HarnessError | None, path: Path, bad_line: int, bad: str,
                        whole_file_ok: bool = False) -> None:
    """The bad line is either accepted, or refused at its own line. Whole-file errors (no
    records at all) are fine when the bad line was blank and nothing else was there."""
    if err is None:
        return
    if not bad.strip() or whole_file_ok:
        check_error(err, path)
        return
    check_error(err, path, bad_line)


# --- 1. eval sets --------------------------------------------------------------------------

CORPUS_TEXT = "Article 1. Coverage\nA. We pay for direct physical loss by or from flood.\n"


def eval_record(i: int) -> dict:
    return {"id": f"q{i}", "question": "What is covered?", "answerable": True, "gold_answer": "Flood loss.",
            "evidence": [{"document_id": "doc1", "start": 11, "end": 30}], "category": "coverage",
            "split": "train", "language": "en"}


def _valid_items(items: Any) -> None:
    from harness.eval_set import EvalItem

    assert isinstance(items, list) and items
    for it in items:
        assert isinstance(it, EvalItem)
        assert isinstance(it.id, str) and isinstance(it.question, str) and isinstance(it.answerable, bool)
        assert it.gold_answer is None or isinstance(it.gold_answer, str)
        assert it.split in ("train", "dev", "test") and it.language in ("en", "ko")
        for ev in it.evidence:
            assert isinstance(ev.document_id, str) and type(ev.start) is int and type(ev.end) is int


def _corpus(tmp: Path) -> Path:
    root = tmp / "corpus"
    root.mkdir()
    (root / "doc1.txt").write_text(CORPUS_TEXT, encoding="utf-8")
    return root


@FUZZ
@given(n_before=st.integers(0, 3), bad=bad_lines(eval_record(99)), n_after=st.integers(0, 2))
def test_eval_set_bad_line(n_before, bad, n_after):
    from harness.eval_set import load_eval_set
    from harness.validate import CorpusLookup, validate_set

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prefix = [eval_record(i) for i in range(n_before)]
        suffix = [eval_record(100 + i) for i in range(n_after)]
        path, line = jsonl_case(tmp, "set.jsonl", prefix, bad, suffix)
        items, err = run_reader(load_eval_set, path)
        if err is None:
            _valid_items(items)
        check_jsonl_outcome(items, err, path, line, bad, whole_file_ok=not prefix and not suffix)
        # harness validate-set reads the same file the same way, line for line; it also checks
        # spans against the corpus, so it may refuse more, but never at another line.
        report = validate_set(path, CorpusLookup([_corpus(tmp)]))
        assert len(report.errors) <= 1
        if report.errors:
            check_jsonl_outcome(None, report.errors[0], path, line, bad, whole_file_ok=not prefix and not suffix)
        if err is not None:
            assert report.errors and report.errors[0].line == err.line, (str(err), report.errors)


@FUZZ
@given(data=st.data())
def test_eval_set_bytes(data):
    from harness.eval_set import load_eval_set
    from harness.validate import CorpusLookup, validate_set

    valid = "".join(_record_line(eval_record(i)) + "\n" for i in range(3))
    raw = data.draw(mangled_bytes(valid))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "set.jsonl"
        path.write_bytes(raw)
        read_or_refuse(load_eval_set, path, _valid_items)
        report, err = run_reader(lambda p: validate_set(p, CorpusLookup([_corpus(tmp)])), path)
        for e in [err] if err is not None else report.errors:
            check_error(e, path)


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
def test_eval_set_line_separators_inside_strings(tmp_path, char):
    """JSON strings may hold U+2028, NEL, form feeds...: a line is one record all the same."""
    from harness.eval_set import load_eval_set
    from harness.validate import CorpusLookup, validate_set

    rec = eval_record(1) | {"question": f"What{char}is covered?"}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(rec, ensure_ascii=False) + "\n" + _record_line(eval_record(2)) + "\n", encoding="utf-8")
    assert len(load_eval_set(path)) == 2
    report = validate_set(path, CorpusLookup([_corpus(tmp_path)]))
    assert report.ok, report.errors
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rec, ensure_ascii=False) + "\n" + "{oops\n", encoding="utf-8")
    report = validate_set(bad, CorpusLookup([tmp_path / "corpus"]))
    assert [e.line for e in report.errors] == [2]


# --- 2. harness score --input ---------------------------------------------------------------

def score_record(i: int, labeled: bool = False) -> dict:
    rec = {"id": f"a{i}", "question": "Is flood covered?", "context": "We pay for flood loss.",
           "answer": "Flood loss is covered."}
    if labeled:
        rec["hallucinated"] = False
    return rec


def _valid_score_rows(rows: Any, labeled: bool) -> None:
    from harness.scoring.batch import ScoreInput

    assert isinstance(rows, list) and rows
    for r in rows:
        assert isinstance(r, ScoreInput) and isinstance(r.answer, str)
        assert isinstance(r.passages, list) and all(isinstance(p, str) for p in r.passages)
        assert isinstance(r.record["id"], (str, int))
        if labeled:
            assert isinstance(r.record["hallucinated"], bool)


@FUZZ
@given(n_before=st.integers(0, 3), labeled=st.booleans(), data=st.data())
def test_score_input_bad_line(n_before, labeled, data):
    from harness.scoring.batch import read_score_input

    bad = data.draw(bad_lines(score_record(99, labeled)))
    with tempfile.TemporaryDirectory() as d:
        prefix = [score_record(i, labeled) for i in range(n_before)]
        path, line = jsonl_case(Path(d), "answers.jsonl", prefix, bad, [])
        rows, err = run_reader(lambda p: read_score_input(p, labeled=labeled), path)
        if err is None:
            _valid_score_rows(rows, labeled)
        check_jsonl_outcome(rows, err, path, line, bad, whole_file_ok=not prefix)


@FUZZ
@given(data=st.data())
def test_score_input_bytes(data):
    from harness.scoring.batch import read_score_input

    raw = data.draw(mangled_bytes("".join(_record_line(score_record(i)) + "\n" for i in range(3))))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "answers.jsonl"
        path.write_bytes(raw)
        read_or_refuse(read_score_input, path, lambda rows: _valid_score_rows(rows, False))


# --- 3. chunk JSONL ------------------------------------------------------------------------

def chunk_record(i: int) -> dict:
    return {"chunk_id": f"c{i}", "text": "We pay for direct physical loss by flood.",
            "metadata": {"source": "dwelling.txt", "breadcrumbs": "Dwelling > I.", "token_count": 9}}


def _valid_prechunked(groups: Any) -> None:
    assert isinstance(groups, dict)
    for doc, rows in groups.items():
        assert isinstance(doc, str) and doc and "/" not in doc and not doc.startswith(".")
        for r in rows:
            assert isinstance(r["text"], str) and r["text"].strip()
            assert isinstance(r.get("metadata", {}), dict)


def _valid_gen_chunks(chunks: Any) -> None:
    from training.generate import GenChunk

    assert isinstance(chunks, list) and chunks
    for c in chunks:
        assert isinstance(c, GenChunk) and isinstance(c.chunk_id, str) and c.chunk_id
        assert isinstance(c.text, str) and isinstance(c.breadcrumbs, str) and isinstance(c.document_id, str)


@FUZZ
@given(n_before=st.integers(0, 3), bad=bad_lines(chunk_record(99)))
def test_prechunked_bad_line(n_before, bad):
    from retrieval.chunking import chunk_corpus, read_prechunked

    with tempfile.TemporaryDirectory() as d:
        prefix = [chunk_record(i) for i in range(n_before)]
        path, line = jsonl_case(Path(d), "chunks.jsonl", prefix, bad, [])
        groups, err = run_reader(read_prechunked, path)
        if err is None:
            _valid_prechunked(groups)
        check_jsonl_outcome(groups, err, path, line, bad)
        # chunk_corpus takes .jsonl files as chunks: the same refusal, and chunks when valid.
        out, err2 = run_reader(lambda p: chunk_corpus([str(p)]), path)
        if err is not None:
            assert err2 is not None and str(err2) == str(err)
        elif err2 is None:
            chunks, documents = out
            assert all(isinstance(c.chunk_id, str) and c.chunk_id and isinstance(c.text, str) for c in chunks)
            assert len({c.chunk_id for c in chunks}) == len(chunks)
        else:
            check_error(err2, path)


@FUZZ
@given(n_before=st.integers(0, 3), bad=bad_lines(chunk_record(99)))
def test_generate_chunks_bad_line(n_before, bad):
    from training.generate import load_chunks

    with tempfile.TemporaryDirectory() as d:
        prefix = [chunk_record(i) for i in range(n_before)]
        path, line = jsonl_case(Path(d), "chunks.jsonl", prefix, bad, [])
        chunks, err = run_reader(lambda p: load_chunks(chunks_file=p), path)
        if err is None:
            _valid_gen_chunks(chunks)
        check_jsonl_outcome(chunks, err, path, line, bad, whole_file_ok=not prefix)


@FUZZ
@given(data=st.data())
def test_chunk_files_bytes(data):
    from retrieval.chunking import read_prechunked
    from training.generate import load_chunks

    raw = data.draw(mangled_bytes("".join(_record_line(chunk_record(i)) + "\n" for i in range(3))))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "chunks.jsonl"
        path.write_bytes(raw)
        read_or_refuse(read_prechunked, path, _valid_prechunked)
        read_or_refuse(lambda p: load_chunks(chunks_file=p), path, _valid_gen_chunks)


def test_prechunked_chunks_without_ids(tmp_path):
    """chunk_id is optional in the seed's schema: several chunks without one are not duplicates."""
    from retrieval.chunking import read_prechunked

    path = tmp_path / "chunks.jsonl"
    rows = [{"text": "One clause."}, {"text": "Another clause."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    groups = read_prechunked(path)
    assert sum(len(v) for v in groups.values()) == 2


# --- 4. training JSONL ---------------------------------------------------------------------

def example_record(i: int) -> dict:
    return {"prompt": [{"role": "system", "content": "Answer from the clauses."},
                       {"role": "user", "content": f"Question {i}?"}],
            "completion": [{"role": "assistant", "content": "Flood loss is covered."}],
            "meta": {"question_id": f"q{i}", "kind": "answerable", "language": "en"}}


def pair_record(i: int) -> dict:
    return {"instruction": f"What does clause {i} cover?", "input": "We pay for flood loss.",
            "output": "It covers flood loss.", "type": "fact", "chunk_id": f"c{i}", "language": "en"}


@FUZZ
@given(n_before=st.integers(0, 3), bad=bad_lines(example_record(99)))
def test_training_examples_bad_line(n_before, bad):
    from training.data import load_examples

    with tempfile.TemporaryDirectory() as d:
        prefix = [example_record(i) for i in range(n_before)]
        path, line = jsonl_case(Path(d), "train.jsonl", prefix, bad, [])
        out, err = run_reader(load_examples, path)
        if err is None:
            rows, manifest = out
            assert manifest is None and rows
            for r in rows:
                assert isinstance(r["prompt"], list) and isinstance(r["completion"][0]["content"], str)
                assert r["prompt"][-1]["role"] == "user" and r["completion"][0]["role"] == "assistant"
        check_jsonl_outcome(out, err, path, line, bad, whole_file_ok=not prefix)


@FUZZ
@given(n_before=st.integers(0, 3), bad=bad_lines(pair_record(99)))
def test_generated_pairs_bad_line(n_before, bad):
    from training.data import read_extra
    from training.validate import validate_files

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prefix = [pair_record(i) for i in range(n_before)]
        path, line = jsonl_case(tmp, "pairs.jsonl", prefix, bad, [])
        pairs, err = run_reader(lambda p: read_extra([str(p)]), path)
        if err is None:
            for where, ln, p in pairs:
                assert where == str(path) and type(ln) is int
                assert all(isinstance(p[k], str) and p[k].strip() for k in ("instruction", "input", "output"))
        check_jsonl_outcome(pairs, err, path, line, bad)
        out = tmp / "out" / "kept.jsonl"
        result, err = run_reader(lambda p: validate_files([p], out), path)
        if err is None:
            assert result.read == len(result.kept) + len(result.rejected)
            assert out.is_file()
        else:
            check_jsonl_outcome(result, err, path, line, bad)
            assert not out.exists(), "validate_files wrote its output for a bad file"


@FUZZ
@given(data=st.data())
def test_training_files_bytes(data):
    from training.data import load_examples, read_extra
    from training.validate import validate_files

    which = data.draw(st.sampled_from(["examples", "pairs"]))
    rec = example_record if which == "examples" else pair_record
    raw = data.draw(mangled_bytes("".join(_record_line(rec(i)) + "\n" for i in range(3))))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "data.jsonl"
        path.write_bytes(raw)
        readers = [load_examples] if which == "examples" else [
            lambda p: read_extra([str(p)]), lambda p: validate_files([p], tmp / "out.jsonl")]
        for reader in readers:
            read_or_refuse(reader, path)


# --- 5. YAML configs -----------------------------------------------------------------------

YAML_SNIPPETS = [
    "\tk: 5", "k:\t5", "k: 5\n\t", "models:\n\t- base",
    "a: &x {b: 1}\nretrieval: *x", "&a {retrieval: *a}", "&a [*a]", "retrieval: &a {mode: *a}",
    "grid: &g {temperature: *g}", "presets: &p {mine: *p}",
    "x: &a [1, 2]\ny: &b [*a, *a, *a, *a]\nz: &c [*b, *b, *b, *b]\nw: [*c, *c, *c, *c]",
    "k: !!python/object:os.system {}", "k: !!python/object/apply:os.system [echo hi]",
    "!!python/name:os.system", "k: !!binary aGVsbG8=", "k: !!set {a, b}", "k: !!omap [a: 1]",
    "k: 2024-01-01", "k: 1_000", "k: 0x10", "k: 190:20:30", "k: .nan", "k: -.inf", "k: 1e999",
    "k: " + HUGE_INT, "seed: " + HUGE_INT, "epochs: 9" + "9" * 400, "temperature: -9" + "9" * 400, "max_new_tokens: -" + HUGE_INT,
    "1: 2", "null: x", "~: x", "yes: 1", "? [a, b]\n: c", "? {a: b}\n: c", "3.5: x", "2024-01-01: x",
    "<<: {k: 5}", "k: 5\nk: 6", "---\nk: 5\n---\nk: 6", "...", "---", "%YAML 1.1\n---\nk: 5",
    "%TAG ! tag:example.com,2000:\n--- !foo {}", "k: *undefined", "k: &a", "k: [", "k: {", "k: '", "k: \"\\x\"",
    "[" * 1500, "{a: " * 3000, "- " * 3000 + "x", "\x00", "k: \x00", "k: \x07", "k: \ud7ff\ue000",
    "\ufeffk: 5", "k: 5\r\nk2: 6", "k: 5\rz: 6", "k: \u2028", "k: |\n  text\n  more", "k: >-\n  folded",
    "k: !!int x", "k: !!float x", "k: !!bool x", "k: !!str", "k: !!map [1]", "k: !!seq {a: 1}", "k: !!null x",
    "? |\n  block key\n: v", "[a, b]", "just text", "42", "null", "''", "- a\n- b",
    "decoding_overrides: {temperature: x}", "presets: {mine: {temperature: [1]}}", "grid: {temperature: [x, [1], {a: 1}]}",
    "grid: {max_new_tokens: [0, -1, 1.5, null]}", "grid: {nope: [1]}", "grid: {seed: [" + HUGE_INT[:50] + "]}",
    "decoding: [no-such-preset]", "decoding: []", "models: []", "models: [[base]]", "retrieval: [1]",
    "stops: {phrases: [[x]]}", "lora: {target_modules: []}", "lora: {r: 0}", "preset: [fast]", "preset: {a: 1}",
    "preset: 5", "preset: nope", "preset: ~", "preset: quality", "quant: 4bit", "chunking: {max_tokens: 1e3}",
    "run_name: ../../etc", "run_name: \"a/b\"", "run_name: 5", "language_embedders: [x]", "language_embedders: ko",
]

yaml_values = st.recursive(
    json_scalars | st.dates() | st.binary(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=8) | st.integers() | st.booleans() | st.none(), children, max_size=3),
    max_leaves=10)


def _dump(obj: Any) -> str:
    return yaml.safe_dump(obj, allow_unicode=True, sort_keys=False)


def yaml_texts(valid: dict) -> st.SearchStrategy[str]:
    field_names = st.sampled_from(sorted(valid) + ["retrieval", "decoding_overrides", "presets", "grid",
                                                   "chunking", "lora", "stops"])
    swapped = st.builds(lambda k, v: {**valid, k: v}, field_names, yaml_values)
    return st.one_of(
        st.text(max_size=200),
        yaml_values.map(_dump),
        swapped.map(_dump),
        mutated(valid).map(_dump),
        st.lists(st.sampled_from(YAML_SNIPPETS), min_size=1, max_size=3).map("\n".join),
        st.builds(lambda v, s: _dump(v) + s + "\n", st.just(valid), st.sampled_from(YAML_SNIPPETS)),
        st.builds(lambda s, t: s.replace("k:", t + ":"), st.sampled_from(YAML_SNIPPETS),
                  st.sampled_from(sorted(valid))),
    )


EVAL_VALID = {"models": ["base", "v1"], "skip_unregistered": True, "decoding": ["seed-default", "greedy"],
              "eval_set": "eval_sets/sfip/starter.jsonl", "k": 5, "repeats": 1, "run_name": "exp",
              "stops": {"default_phrases": True, "phrases": ["Question:"]}, "retrieval": {"mode": "hybrid", "rrf_k": 60},
              "decoding_overrides": {"max_new_tokens": 64}, "presets": {"mine": {"temperature": 0.5, "top_p": 0.9}},
              "grid": {"temperature": [0.1, 0.7]}, "score_threshold": 0.5}
INDEX_VALID = {"corpus": ["eval_sets/corpora/sfip"], "patterns": ["*.txt"], "out": "indexes/x",
               "dense_index": "hnsw", "language_embedders": ["ko=multilingual-e5-small"],
               "chunking": {"max_tokens": 200, "min_tokens": 40, "overlap_tokens": 20}}
TRAIN_VALID = {"dataset": "rag", "name": "v3", "preset": "balanced", "epochs": 2.0, "learning_rate": 1e-4,
               "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]}}
DATA_VALID = {"dataset": "qa", "eval_sets": ["eval_sets/sfip/questions.jsonl"], "k": 5, "min_k": 3,
              "negatives": 0.5, "retrieval": {"mode": "bm25"}}

GENERATE_VALID = {"chunks": "chunks.jsonl", "generator": "openai:qwen", "workers": 2, "temperature": 0.2,
                  "api_base": "http://h/v1", "max_retries": 2}
RETRIEVAL_VALID = {"mode": "hybrid", "rrf_k": 60, "candidates": 50, "doc_aware": True, "bm25_korean": "both"}


def _load_yaml(kind: str, path: Path) -> Any:
    from harness.config import EvalConfig, IndexConfig, load_config

    if kind == "eval":
        from harness.experiment.plan import load_experiment

        cfg = load_experiment(path)  # what `harness eval --config` reads: presets and grid checked too
        assert isinstance(cfg, EvalConfig)
        return cfg
    if kind == "index":
        cfg = load_config(IndexConfig, path)
        assert isinstance(cfg, IndexConfig)
        return cfg
    if kind == "train":
        from training.config import TrainConfig
        from training.train import load_train_config

        cfg = load_train_config(path, {})
        assert isinstance(cfg, TrainConfig)
        return cfg
    if kind == "retrieval":  # harness search --config
        from harness.config import RetrievalConfig

        cfg = load_config(RetrievalConfig, path)
        assert isinstance(cfg, RetrievalConfig)
        return cfg
    from training.config import DataConfig, GenerateConfig

    cls = DataConfig if kind == "data" else GenerateConfig
    cfg = load_config(cls, path)
    assert isinstance(cfg, cls)
    return cfg


def _check_config_types(cfg: Any) -> None:
    """Every field holds a value of its declared type (what the rest of the code relies on)."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value, tp = getattr(cfg, f.name), hints[f.name]
        if dataclasses.is_dataclass(tp):
            assert isinstance(value, tp)
            _check_config_types(value)
        elif tp in (str, int, bool):
            assert type(value) is tp, (f.name, value)
        elif tp is float:
            assert type(value) is float, (f.name, value)
        elif typing.get_origin(tp) is tuple:
            assert isinstance(value, tuple) and all(isinstance(v, typing.get_args(tp)[0]) or typing.get_args(tp)[0] is Any
                                                    for v in value), (f.name, value)


YAML_KINDS = {"eval": EVAL_VALID, "index": INDEX_VALID, "train": TRAIN_VALID, "data": DATA_VALID,
              "generate": GENERATE_VALID, "retrieval": RETRIEVAL_VALID}


def _yaml_case(kind: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        read_or_refuse(lambda p: _load_yaml(kind, p), path, _check_config_types)


@FUZZ
@given(data=st.data())
def test_eval_config_yaml(data):
    _yaml_case("eval", data.draw(yaml_texts(EVAL_VALID)))


@FUZZ
@given(data=st.data())
def test_index_config_yaml(data):
    _yaml_case("index", data.draw(yaml_texts(INDEX_VALID)))


@FUZZ
@given(data=st.data())
def test_train_config_yaml(data):
    _yaml_case("train", data.draw(yaml_texts(TRAIN_VALID)))


@FUZZ
@given(data=st.data())
def test_data_config_yaml(data):
    _yaml_case("data", data.draw(yaml_texts(DATA_VALID)))


@FUZZ
@given(kind=st.sampled_from(["generate", "retrieval"]), data=st.data())
def test_generate_and_search_config_yaml(kind, data):
    _yaml_case(kind, data.draw(yaml_texts(YAML_KINDS[kind])))


@FUZZ
@given(kind=st.sampled_from(sorted(YAML_KINDS)), data=st.data())
def test_config_yaml_bytes(kind, data):
    raw = data.draw(mangled_bytes(_dump(YAML_KINDS[kind])))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.yaml"
        path.write_bytes(raw)
        read_or_refuse(lambda p: _load_yaml(kind, p), path, _check_config_types)


@pytest.mark.parametrize("snippet", YAML_SNIPPETS)
@pytest.mark.parametrize("kind", sorted(YAML_KINDS))
def test_config_yaml_snippets(kind, snippet):
    """Every hand-written nasty snippet, on every config (not left to chance)."""
    _yaml_case(kind, snippet + "\n")


def test_yaml_error_lines(tmp_path):
    from harness.config import EvalConfig, load_config

    path = tmp_path / "c.yaml"
    path.write_text("k: 5\nretrieval:\n  mode: hybrid\n  rrf_k: [1]\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":4: 'retrieval.rrf_k' must be an integer"):
        load_config(EvalConfig, path)
    path.write_text("k: 5\n\tx: 1\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":2: invalid YAML"):
        load_config(EvalConfig, path)
    path.write_text("k: 5\nm: 'a\x00b'\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":2: invalid YAML"):
        load_config(EvalConfig, path)
    path.write_text("k: 5\n7: x\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":2: unknown key '7'"):
        load_config(EvalConfig, path)


# --- 6. models.json ------------------------------------------------------------------------

REGISTRY_VALID = {"models": {"v1": {"base_model": "smollm2-135m", "adapter_dir": "adapters/v1", "adapter_sha": "abc"},
                             "remote": {"base_model": "org/model", "served_model": "v2", "api_base": "http://h/v1"}}}


def _read_models(path: Path) -> Any:
    from harness.models import ModelSpec, get_model, load_model_registry

    registry = load_model_registry(path)
    assert isinstance(registry, dict)
    specs = []
    for name in list(registry)[:4]:
        try:
            spec = get_model(name, "smollm2-135m", path)
        except HarnessError as e:
            assert e.path is not None, f"no file named: {e}"
            check_error(e, Path(e.path))
            continue
        assert isinstance(spec, ModelSpec)
        for field_name in ("base_model",):
            assert isinstance(getattr(spec, field_name), str)
        for field_name in ("adapter_dir", "adapter_sha", "served_model", "api_base"):
            assert getattr(spec, field_name) is None or isinstance(getattr(spec, field_name), str), spec
        specs.append(spec)
    return specs


@FUZZ
@given(data=st.data())
def test_model_registry(data):
    text = data.draw(st.one_of(
        st.text(max_size=100),
        json_values.map(json.dumps),
        st.builds(lambda v: json.dumps({"models": v}), json_values),
        st.builds(lambda v: json.dumps({"models": {"v1": v}}), json_values),
        mutated(REGISTRY_VALID).map(json.dumps),
        st.sampled_from(NASTY_LINES),
    ))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "models.json"
        path.write_text(text, encoding="utf-8")
        read_or_refuse(_read_models, path)


@FUZZ
@given(data=st.data())
def test_model_registry_bytes(data):
    raw = data.draw(mangled_bytes(json.dumps(REGISTRY_VALID, indent=2)))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "models.json"
        path.write_bytes(raw)
        read_or_refuse(_read_models, path)


# --- CLI -----------------------------------------------------------------------------------

def _invoke(args: list[str]):
    from click.testing import CliRunner

    from harness.cli import cli

    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return result


@FUZZ_CLI
@given(n_before=st.integers(0, 2), data=st.data())
def test_cli_score(n_before, data):
    from harness.scoring.batch import read_score_input

    bad = data.draw(st.one_of(bad_lines(score_record(99)), st.just(_record_line(score_record(99)))))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prefix = [score_record(i) for i in range(n_before)]
        path, line = jsonl_case(tmp, "answers.jsonl", prefix, bad, [])
        out = tmp / "scored.jsonl"
        result = _invoke(["score", "--input", str(path), "--output", str(out), "--no-embeddings"])
        _, err = run_reader(read_score_input, path)
        if result.exit_code == 2:
            assert err is not None, result.stderr
            assert result.stderr.strip() == f"Error: {err}"
            assert not out.exists(), "a partial result file was written"
            assert not any(p.name.startswith(".scored") for p in tmp.iterdir())
        else:
            assert err is None
            assert out.is_file()


@FUZZ_CLI
@given(n_before=st.integers(0, 2), data=st.data())
def test_cli_validate_set(n_before, data):
    bad = data.draw(st.one_of(bad_lines(eval_record(99)), st.just(_record_line(eval_record(99)))))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prefix = [eval_record(i) for i in range(n_before)]
        path, line = jsonl_case(tmp, "set.jsonl", prefix, bad, [])
        result = _invoke(["validate-set", str(path), "--corpus", str(_corpus(tmp))])
        if result.exit_code == 2:
            assert result.stderr.startswith(f"Error: {path}"), result.stderr
            if bad.strip():
                assert result.stderr.startswith(f"Error: {path}:{line}: "), result.stderr


@FUZZ_CLI
@given(data=st.data())
def test_cli_score_bytes(data):
    raw = data.draw(mangled_bytes("".join(_record_line(score_record(i)) + "\n" for i in range(2))))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "answers.jsonl"
        path.write_bytes(raw)
        out = tmp / "scored.jsonl"
        result = _invoke(["score", "--input", str(path), "--output", str(out), "--no-embeddings"])
        if result.exit_code == 2:
            assert result.stderr.startswith(f"Error: {path}"), result.stderr
            assert not out.exists()


@FUZZ_CLI
@given(n_before=st.integers(0, 2), data=st.data())
def test_cli_data_validate(n_before, data):
    bad = data.draw(st.one_of(bad_lines(pair_record(99)), st.just(_record_line(pair_record(99)))))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prefix = [pair_record(i) for i in range(n_before)]
        path, line = jsonl_case(tmp, "pairs.jsonl", prefix, bad, [])
        out = tmp / "out" / "kept.jsonl"
        result = _invoke(["data", "validate", str(path), "--out", str(out)])
        if result.exit_code == 2:
            assert result.stderr.startswith(f"Error: {path}:{line}: "), result.stderr
            assert not (tmp / "out").exists(), "a partial result file was written"
        else:
            assert out.is_file() and out.with_name("kept.rejects.jsonl").is_file()
