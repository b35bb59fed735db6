from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from harness.cli.options import greedy
from harness.errors import HarnessError
from harness.io import JsonlAppender, atomic_write_text, content_hash, read_jsonl
from harness.registry import Registry


def test_atomic_write_leaves_only_the_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "héllo\n")
    atomic_write_text(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_jsonl_round_trip_and_line_numbers(tmp_path):
    path = tmp_path / "x.jsonl"
    with JsonlAppender(path) as out:
        out.append({"a": "한국어"})
        out.append({"b": 2})
    assert read_jsonl(path) == [{"a": "한국어"}, {"b": 2}]
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"x.jsonl:3: invalid JSON"):
        read_jsonl(path)


def test_content_hash_ignores_key_order():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_registry_is_lazy_and_suggests_names():
    reg: Registry = Registry("backend")
    reg.register("hf", "json:dumps")
    assert reg.get("hf").__name__ == "dumps"
    with pytest.raises(HarnessError, match="unknown backend 'hff' \\(did you mean 'hf'\\?\\); known: hf"):
        reg.get("hff")


def test_greedy_option_takes_every_value_up_to_the_next_option():
    @click.command(cls=greedy("--models"))
    @click.option("--models", multiple=True)
    @click.option("--k", type=int)
    @click.option("--x", is_flag=True)
    def cmd(models, k, x):
        click.echo(f"{list(models)} {k} {x}")

    run = CliRunner().invoke(cmd, ["--models", "base", "v1", "v2", "--k", "3", "--x"])
    assert run.output.strip() == "['base', 'v1', 'v2'] 3 True"
    run = CliRunner().invoke(cmd, ["--k", "-1", "--models=base", "--models", "v1"])
    assert run.output.strip() == "['base', 'v1'] -1 False"


def test_a_utf8_byte_order_mark_is_read_not_refused(tmp_path):
    """Excel and Notepad save UTF-8 with a byte-order mark; JSONL and JSON files so saved are read."""
    from harness.io import read_json, read_jsonl

    jsonl = tmp_path / "answers.jsonl"
    jsonl.write_bytes("\ufeff".encode("utf-8") + '{"id": "q1", "answer": "보상합니다."}\n{"id": "q2"}\n'.encode("utf-8"))
    assert read_jsonl(jsonl) == [{"id": "q1", "answer": "보상합니다."}, {"id": "q2"}]
    config = tmp_path / "models.json"
    config.write_bytes(b"\xef\xbb\xbf" + b'{"v2": {"adapter": "adapters/v2"}}')
    assert read_json(config) == {"v2": {"adapter": "adapters/v2"}}
    # A BOM anywhere else is still an error at its line.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1"}\n\ufeff{"id": "q2"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match="bad.jsonl:2"):
        read_jsonl(bad)
