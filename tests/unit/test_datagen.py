"""`harness data generate` against real HTTP servers on 127.0.0.1: flaky (429 / 500), killed
mid-way, keyed, down; and the reply parser, the sharding and the progress file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.errors import HarnessError
from tests.conftest import REPO
from tests.servers.fake_generator import FakeGenerator, first_sentence
from tests.servers.fake_openai import FakeOpenAI
from training.config import GenerateConfig
from training.generate import GENERATED, PROGRESS, REJECTS, load_chunks, parse_reply, run_generate, shard

EN = ["Proof of loss must be sent within 60 days after the loss. It must be signed.",
      "We do not cover mold damage that you could have avoided. Mildew is the same.",
      "The deductible applies separately to each flood. It is shown on the declarations page.",
      "Jewelry is covered up to $2,500 in any one loss. Watches count as jewelry.",
      "Detached garages are covered up to 10 percent of the building limit. Only one garage.",
      "Loss avoidance measures are covered up to $1,000. Sandbags count.",
      "You may not assign this policy without our written consent. Assignment of a claim is allowed.",
      "This policy covers only one building. A duplex counts as one building."]
KO = ["손해증명서는 손해 발생일부터 60일 이내에 제출하여야 합니다. 서명이 필요합니다.",
      "지반 이동으로 생긴 손해는 보상하지 않습니다. 다만 이류는 예외입니다.",
      "자기부담금은 홍수 한 번마다 따로 적용됩니다. 선언 페이지에 적혀 있습니다.",
      "보석은 한 번의 손해에 2,500달러까지 보상합니다. 시계도 보석으로 봅니다."]


def write_chunks(path: Path, texts=EN + KO) -> Path:
    path.write_text("".join(json.dumps({"chunk_id": f"c{i:02d}", "text": t, "document_id": "doc",
                                        "metadata": {"breadcrumbs": f"Policy > {i}."}}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")
    return path


def cfg(chunks: Path, url: str, out: Path, **kw) -> GenerateConfig:
    base = dict(chunks=str(chunks), generator="openai:gen", api_base=url, out=str(out), retry_backoff=0.01,
                request_timeout=10, cache_dir=str(Path(out).parent / "cache"))
    return GenerateConfig(**{**base, **kw})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_shards_are_consecutive_slices_of_ceil_total_over_n():
    assert shard(list(range(10)), 4) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert shard(list(range(3)), 4) == [[0], [1], [2], []]
    assert shard([], 2) == [[], []]


@pytest.mark.parametrize("reply, n_pairs, problem", [
    ('{"pairs": [{"type": "fact", "question": "Q?", "answer": "A."}]}', 1, None),
    ('Here you go:\n```json\n[{"type": "easy", "question": "Q?", "answer": "A."}]\n```', 1, None),
    ('{"type": "Scenario", "question": "Q?", "answer": "A."}', 1, None),
    ('{"pairs": [{"type": "trivia", "question": "Q?", "answer": "A."}]}', 0, "has type 'trivia'"),
    ('{"pairs": [{"type": "fact", "question": "Q?"}]}', 0, "lacks a question or an answer"),
    ("Sure! What is covered? What is not?", 0, "holds no JSON object"),
    ("Question: How long do I have?\nAnswer: 60 days after the loss.\n\nQ2: Is mold covered?\nA2: No.", 2, None),
    ("질문: 보험금은 언제 지급됩니까?\n답변: 손해증명서를 받은 날부터 60일 이내입니다.", 1, None),
    ('1. Question: "What is covered?"\nAnswer: "The building and its contents."', 1, None),
    ('{"answer": 3}', 0, "has no 'pairs' list"),
    ('{"pairs": []}', 0, "is empty"),
])
def test_replies_are_parsed_or_rejected_with_a_reason(reply, n_pairs, problem):
    pairs, problems = parse_reply(reply)
    assert len(pairs) == n_pairs
    if problem is None:
        assert problems == []
    else:
        assert problem in problems[0]


def test_every_chunk_processed_exactly_once_against_a_flaky_server(tmp_path):
    chunks = write_chunks(tmp_path / "chunks.jsonl", EN + KO + ["A garbled clause GARBAGE with no sentence end"])
    with FakeGenerator(fail_every=3, garbage_words=("GARBAGE",)) as server:
        result = run_generate(cfg(chunks, server.url, tmp_path / "out", workers=3))
    n = len(EN) + len(KO) + 1
    assert server.faults > 0 and result.retries == server.faults  # 429s and 500s, each retried
    assert Counter(server.clauses) == Counter(c.text for c in load_chunks(chunks))  # one 200 per chunk
    assert (result.done, result.failed, result.total) == (n, 0, n)
    pairs = read_jsonl(tmp_path / "out" / GENERATED)
    assert len(pairs) == 3 * (n - 1)
    assert Counter(p["chunk_id"] for p in pairs) == {f"c{i:02d}": 3 for i in range(n - 1)}
    first = pairs[0]
    assert set(first) == {"instruction", "input", "output", "type", "chunk_id", "language", "generator"}
    assert first["input"] == EN[0] and first["output"] == first_sentence(EN[0]) and first["generator"] == "openai:gen"
    assert {p["type"] for p in pairs} == {"fact", "scenario", "easy"}
    assert {p["language"] for p in pairs if p["input"] in KO} == {"ko"}
    rejects = read_jsonl(tmp_path / "out" / REJECTS)
    assert [(r["chunk_id"], r["reason"]) for r in rejects] == [
        (f"c{n - 1:02d}", "the reply holds no JSON object (nor Question:/Answer: lines)")]
    assert "Sure!" in rejects[0]["reply"]
    progress = json.loads((tmp_path / "out" / PROGRESS).read_text())
    assert sum(w["chunks"] for w in progress["workers"].values()) == n
    assert sum(w["requests"] for w in progress["workers"].values()) == n
    # A second run has nothing to do and asks nothing.
    with FakeGenerator() as server:
        again = run_generate(cfg(chunks, server.url, tmp_path / "out", workers=2))
    assert server.count == 0  # no generation request at all
    assert again.skipped == n and again.pairs == 3 * (n - 1)


def test_replies_come_from_the_shared_cache_on_a_rerun_into_a_new_folder(tmp_path):
    chunks = write_chunks(tmp_path / "chunks.jsonl", EN[:4])
    with FakeGenerator() as server:
        first = run_generate(cfg(chunks, server.url, tmp_path / "a"))
        asked = server.count
        second = run_generate(cfg(chunks, server.url, tmp_path / "b"))
        assert server.count == asked == 4  # the second run asked nothing
        third = run_generate(cfg(chunks, server.url, tmp_path / "c", cache=False))
        assert server.count == 8
    assert first.pairs == second.pairs == third.pairs == 12
    assert (tmp_path / "a" / GENERATED).read_text() == (tmp_path / "b" / GENERATED).read_text()


def test_killed_mid_way_and_rerun_loses_and_duplicates_nothing(tmp_path):
    texts = [f"Clause {i} says that item {i} is covered up to {i * 100} dollars. Nothing more." for i in range(16)]
    chunks = write_chunks(tmp_path / "chunks.jsonl", texts)
    out = tmp_path / "out"
    with FakeGenerator(delay=0.25, parallel=4) as server:
        cmd = [sys.executable, "-m", "harness.cli", "data", "generate", "--chunks", str(chunks), "--generator",
               "openai:gen", "--api-base", server.url, "--workers", "2", "--out", str(out),
               "--cache-dir", str(tmp_path / "cache")]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.time() + 60
        while time.time() < deadline:
            done = sum(len(p.read_text().splitlines()) for p in (out / "shards").glob("*.jsonl")) \
                if (out / "shards").is_dir() else 0
            if done >= 4:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 4 <= done < 16, "the run was not killed mid-way"
        # A torn last line, as a kill in the middle of a write leaves it.
        with next((out / "shards").glob("*.jsonl")).open("a") as f:
            f.write('{"chunk_id": "c15", "pairs": [')
        first_run = len(server.clauses)
        result = run_generate(cfg(chunks, server.url, out, workers=2))
    assert result.done == 16 and result.failed == 0 and result.skipped >= 4
    pairs = read_jsonl(out / GENERATED)
    assert Counter(p["chunk_id"] for p in pairs) == {f"c{i:02d}": 3 for i in range(16)}
    # Only chunks whose answer was in flight at the kill were asked twice.
    assert len(server.clauses) - 16 <= 2 and len(server.clauses) >= first_run


def test_the_key_is_sent_but_never_written_or_logged(tmp_path, monkeypatch, capsys, caplog):
    secret = "sk-test-5ecr3t-XYZ"
    monkeypatch.setenv("HARNESS_TEST_KEY", secret)
    chunks = write_chunks(tmp_path / "chunks.jsonl", EN[:3])
    with FakeGenerator(key=secret) as server:
        result = run_generate(cfg(chunks, server.url, tmp_path / "ok", api_key_env="HARNESS_TEST_KEY"))
    assert result.done == 3 and f"Bearer {secret}" in server.auth_headers
    # A wrong key: every chunk fails with a one-line reason naming the variable, not the key.
    monkeypatch.setenv("HARNESS_TEST_KEY", secret + "-wrong")
    with FakeGenerator(key=secret) as server:
        bad = run_generate(cfg(chunks, server.url, tmp_path / "bad", api_key_env="HARNESS_TEST_KEY", max_retries=1))
    assert bad.failed == 3 and bad.done == 0
    rejects = read_jsonl(tmp_path / "bad" / REJECTS)
    assert all("HTTP 401" in r["reason"] and "$HARNESS_TEST_KEY" in r["reason"] for r in rejects)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err + caplog.text


def test_a_server_without_choices_fails_the_chunk_and_the_next_run_retries_it(tmp_path):
    chunks = write_chunks(tmp_path / "chunks.jsonl", ["A normal clause. It ends.", "A clause for NOCHOICE"])
    with FakeOpenAI(models=("gen",), faults={"NOCHOICE": "nochoices"}, fail_times=1) as server:
        first = run_generate(cfg(chunks, server.url, tmp_path / "out"))
        assert (first.done, first.failed) == (1, 1)
        rejects = read_jsonl(tmp_path / "out" / REJECTS)
        assert any("has no choices" in r["reason"] for r in rejects)
        second = run_generate(cfg(chunks, server.url, tmp_path / "out"))
    assert (second.done, second.failed, second.skipped) == (2, 0, 1)


def test_a_server_that_is_down_stops_before_any_chunk(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chunks = write_chunks(tmp_path / "chunks.jsonl", EN[:2])
    with pytest.raises(HarnessError, match="cannot reach"):
        run_generate(cfg(chunks, f"http://127.0.0.1:{port}/v1", tmp_path / "out", max_retries=0))


def test_a_bad_chunk_line_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "chunks.jsonl"
    path.write_text('{"chunk_id": "a", "text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"chunks.jsonl:2"):
        load_chunks(path)
    path.write_text('{"chunk_id": "a", "text": "ok"}\n{"chunk_id": "b"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"chunks.jsonl:2.*non-empty 'text'"):
        load_chunks(path)


def test_a_full_disk_while_saving_progress_keeps_the_last_good_copy(tmp_path, monkeypatch):
    import training.generate as gen

    chunks = write_chunks(tmp_path / "chunks.jsonl", [f"Clause {i}. It ends." for i in range(25)])
    real = gen.atomic_write_json
    calls = {"n": 0}

    def flaky(path, obj):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(28, "No space left on device")
        real(path, obj)

    monkeypatch.setattr(gen, "atomic_write_json", flaky)
    with FakeGenerator() as server:
        result = run_generate(cfg(chunks, server.url, tmp_path / "out"))
    assert result.done == 25 and calls["n"] >= 3
    progress = json.loads((tmp_path / "out" / PROGRESS).read_text())
    assert sum(w["chunks"] for w in progress["workers"].values()) == 10  # the copy saved after 10 chunks


def test_the_in_process_hf_generator_records_every_chunk(tmp_path, tiny_model_dir):
    """A random tiny model writes no JSON: every chunk ends as a rejected reply with the reason,
    none is dropped, and two workers share the one in-process model safely."""
    chunks = write_chunks(tmp_path / "chunks.jsonl", EN[:2] + KO[:1])
    result = run_generate(GenerateConfig(chunks=str(chunks), generator=f"hf:{tiny_model_dir}", out=str(tmp_path / "o"),
                                         workers=2, max_new_tokens=8, cache_dir=str(tmp_path / "cache")))
    assert (result.done, result.failed, result.pairs) == (3, 0, 0)
    rejects = read_jsonl(tmp_path / "o" / REJECTS)
    assert sorted(r["chunk_id"] for r in rejects) == ["c00", "c01", "c02"]
    assert all(r["reason"].startswith("the reply holds no JSON") for r in rejects)
