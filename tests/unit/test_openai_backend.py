"""The openai backend against a real HTTP server on 127.0.0.1 (stdlib, OpenAI protocol, faults
on demand): answers, order, concurrency, decoding passed through, retries, and one-line errors."""

from __future__ import annotations

import pytest

from harness.backends.base import BackendOptions, GenRequest
from harness.backends.openai import OpenAIBackend
from harness.config import DecodingConfig
from harness.errors import HarnessError
from harness.models import ModelSpec
from tests.servers.fake_openai import FakeOpenAI
from tests.servers.llamacpp import free_port

BASE = ModelSpec("base", "served-base")


def opts(url: str, **kw) -> BackendOptions:
    return BackendOptions(api_base=url, api_key_env="HARNESS_TEST_KEY", retry_backoff=0.01, **kw)


def req(i: int, question: str | None = None, **decoding) -> GenRequest:
    q = question or f"Question {i}: what does clause {i} say?"
    return GenRequest(f"q{i}", [{"role": "system", "content": "Answer from the clauses."},
                                {"role": "user", "content": f"[1] Some clause.\n\n{q}"}],
                      decoding=DecodingConfig(**decoding), seed=1000 + i)


def test_answers_keep_order_run_concurrently_and_record_usage(monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_KEY", "sk-secret-123")
    with FakeOpenAI() as server:
        backend = OpenAIBackend(BASE, opts(server.url, concurrency=4))
        gens = backend.generate([req(i) for i in range(8)])
        assert [g.text for g in gens] == [f"[served-base] Question {i}: what does clause {i} say?" for i in range(8)]
        assert all(g.error is None and g.finish_reason == "stop" and g.prompt_tokens > 0 and g.completion_tokens > 0
                   for g in gens)
        assert gens[0].batch_size == 8 and server.max_in_flight > 1  # requests overlapped
        assert all(h.get("Authorization") == "Bearer sk-secret-123" for h in server.headers)
        assert "sk-secret" not in str(backend.info())  # the key's name, never its value
        body = server.requests[0]
        assert body["temperature"] == 0.0 and body["max_tokens"] == 256
        # Greedy means greedy on servers with other defaults (llama.cpp: repeat_penalty 1.1).
        assert body["repeat_penalty"] == body["repetition_penalty"] == 1.0 and body["top_k"] == 1
        # Sampling settings, the request's own seed, repetition penalty and stop strings pass through.
        sampled = GenRequest("s", req(1).messages, decoding=DecodingConfig(do_sample=True, temperature=0.7, top_p=0.9,
                                                                            repetition_penalty=1.2, max_new_tokens=32),
                             seed=77, stop_strings=("Question:",))
        backend.generate([sampled])
        body = server.requests[-1]
        assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.7, 0.9, 77, 32)
        assert body["repetition_penalty"] == body["repeat_penalty"] == 1.2 and body["stop"] == ["Question:"]


def test_strict_server_params_send_only_openai_fields():
    with FakeOpenAI() as server:
        backend = OpenAIBackend(BASE, opts(server.url, server_params="strict"))
        backend.generate([req(0)])
        assert not {"repetition_penalty", "repeat_penalty", "top_k"} & set(server.requests[-1])
        backend.generate([req(1, repetition_penalty=1.2)])  # a preset that needs it still says so
        assert server.requests[-1]["repetition_penalty"] == 1.2


def test_adapters_are_addressed_by_their_served_name():
    with FakeOpenAI() as server:
        backend = OpenAIBackend(BASE, opts(server.url))
        assert backend.switch(ModelSpec("v2", "served-base", adapter_dir="adapters/v2"))
        assert backend.generate([req(0)])[0].text.startswith("[v2]")
        with pytest.raises(HarnessError, match=r"does not serve 'v9' \(it serves: served-base, v2\)"):
            backend.switch(ModelSpec("v9", "served-base"))
        renamed = OpenAIBackend(ModelSpec("mine", "x", served_model="v2"), opts(server.url))
        assert renamed.generate([req(0)])[0].text.startswith("[v2]")


def test_429_and_5xx_are_retried_until_they_pass():
    with FakeOpenAI(faults={"busy": "status:429", "flaky": "status:503"}, fail_times=2) as server:
        backend = OpenAIBackend(BASE, opts(server.url, max_retries=3))
        gens = backend.generate([req(0, "busy now?"), req(1, "flaky now?"), req(2)])
        assert [g.error for g in gens] == [None, None, None]
        assert server.fired == {"busy": 3, "flaky": 3}  # two faults each, then the answer


def test_faults_become_failed_items_with_one_line_reasons():
    faults = {"busy": "status:500", "denied": "status:401", "empty": "nochoices", "html": "notjson", "slow": "hang"}
    with FakeOpenAI(faults=faults) as server:
        backend = OpenAIBackend(BASE, opts(server.url, max_retries=1, request_timeout=0.5))
        gens = backend.generate([req(0, "busy?"), req(1, "denied?"), req(2, "empty?"), req(3, "html?"),
                                 req(4, "slow?"), req(5)])
        errors = [g.error for g in gens]
        assert "HTTP 500" in errors[0] and "fault 500" in errors[0] and "after 2 attempts" in errors[0]
        assert "HTTP 401" in errors[1] and "check the key in $HARNESS_TEST_KEY" in errors[1]
        assert server.fired["denied"] == 1  # not retried
        assert "has no choices" in errors[2]
        assert "not JSON" in errors[3]
        assert "timed out after 0.5 s" in errors[4]
        assert errors[5] is None and gens[5].text.startswith("[served-base]")
        assert all(e is None or "\n" not in e for e in errors)
        assert all(g.finish_reason == "error" for g in gens[:5])


def test_a_server_that_is_down_or_wrong_fails_before_any_item(monkeypatch):
    with pytest.raises(HarnessError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1/models"):
        OpenAIBackend(BASE, opts(f"http://127.0.0.1:{free_port()}/v1", max_retries=0))
    with pytest.raises(HarnessError, match="must be an http"):
        OpenAIBackend(BASE, opts("127.0.0.1:8000/v1"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(HarnessError, match="needs a server: --api-base"):
        OpenAIBackend(BASE, BackendOptions())
    with FakeOpenAI() as server:
        with pytest.raises(HarnessError, match="does not serve 'smollm2-135m'"):
            OpenAIBackend(ModelSpec("base", "smollm2-135m"), opts(server.url))
    # A server without a model listing: the name is checked by the first request instead.
    with FakeOpenAI(list_models=False) as server:
        backend = OpenAIBackend(ModelSpec("base", "nope"), opts(server.url))
        [gen] = backend.generate([req(0)])
        assert "HTTP 404" in gen.error and "does not exist" in gen.error


def test_identity_names_the_server_and_the_served_model():
    a = OpenAIBackend.identity(ModelSpec("v2", "b", adapter_dir="x"), BackendOptions(api_base="http://h:1/v1/"))
    assert a == {"backend": "openai", "api_base": "http://h:1/v1", "model": "v2"}
