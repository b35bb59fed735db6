"""The backend contract, one suite for every backend: a batch in, one Generation per request out
in the same order; an empty batch gives nothing; token counts and finish reasons filled; the
answer does not depend on the other requests in the batch or their order; a failed request is
recorded (error set), the others still answered; info() says which backend answered.

hf runs on the tiny random Llama (float32), openai against a real HTTP server on 127.0.0.1,
scripted without a model."""

from __future__ import annotations

import pytest

from harness.backends.base import BackendOptions, GenRequest
from harness.config import DecodingConfig
from harness.models import ModelSpec
from harness.prompts import Clause, build_messages
from tests.servers.fake_openai import FakeOpenAI

QUESTIONS = ["What is a flood?", "How long do I have to send a proof of loss after the flood?", "Is mold covered?",
             "What does the deductible mean for a building under construction?", "Are cars covered?"]


def requests(n: int = 5, poison: int | None = None) -> list[GenRequest]:
    out = []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)] + (" POISON" if i == poison else "")
        out.append(GenRequest(f"q{i}", build_messages(q, [Clause(f"A. Clause number {i}.", "Form > I.")]),
                              decoding=DecodingConfig(max_new_tokens=6)))
    return out


@pytest.fixture(params=["scripted", "hf", "openai"])
def backend(request, tiny_model_dir):
    if request.param == "scripted":
        from harness.backends.scripted import ScriptedBackend

        yield ScriptedBackend(ModelSpec("base", "x")), "POISON-unsupported"
    elif request.param == "hf":
        from harness.backends.hf import HFBackend

        b = HFBackend(ModelSpec("base", str(tiny_model_dir)), BackendOptions(dtype="float32", device="cpu"))
        yield b, None
        b.close()
    else:
        from harness.backends.openai import OpenAIBackend

        with FakeOpenAI(faults={"POISON": "status:500"}) as server:
            yield OpenAIBackend(ModelSpec("base", "served-base"),
                                BackendOptions(api_base=server.url, max_retries=0, concurrency=3)), "POISON"


def test_one_generation_per_request_in_order(backend):
    b, _ = backend
    assert b.generate([]) == []
    reqs = requests()
    gens = b.generate(reqs)
    assert len(gens) == len(reqs)
    for g in gens:
        assert g.error is None and isinstance(g.text, str) and g.finish_reason in ("stop", "length", "stop_string")
        assert g.completion_tokens >= 0 and g.prompt_tokens >= 0 and g.batch_size == len(reqs)
    assert b.info()["backend"] == b.name


def test_answers_do_not_depend_on_neighbours_or_order(backend):
    b, _ = backend
    reqs = requests()
    together = [g.text for g in b.generate(reqs)]
    alone = [b.generate([r])[0].text for r in reqs]
    reversed_ = [g.text for g in b.generate(reqs[::-1])][::-1]
    pairs = [b.generate([reqs[i], reqs[(i + 2) % len(reqs)]])[0].text for i in range(len(reqs))]
    assert together == alone == reversed_ == pairs


def test_a_failed_request_is_recorded_and_the_rest_answered(backend, monkeypatch):
    b, poison = backend
    if poison is None:  # hf: make one request's generation fail inside the model call
        original = b._generate_batch

        def flaky(batch):
            if any("POISON" in r.messages[-1]["content"] for r in batch):
                raise RuntimeError("injected failure")
            return original(batch)

        monkeypatch.setattr(b, "_generate_batch", flaky)
    elif poison == "POISON-unsupported":
        pytest.skip("the scripted backend has no failure mode to inject")
    gens = b.generate(requests(5, poison=2))
    assert [g.error is None for g in gens] == [True, True, False, True, True]
    assert gens[2].finish_reason == "error" and gens[2].text == "" and gens[2].error
