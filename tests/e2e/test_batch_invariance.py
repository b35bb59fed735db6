"""Batch invariance of the default settings on the real bundled model: the same greedy answer
whatever the batch size, the order or the neighbours (float32 on CPU, the default there)."""

from __future__ import annotations

import pytest

from harness.backends.base import BackendOptions, GenRequest
from harness.config import DecodingConfig
from harness.models import ModelSpec
from harness.prompts import Clause, build_messages


@pytest.mark.slow
def test_real_model_greedy_answers_are_batch_invariant(smollm_dir):
    from harness.backends.hf import HFBackend
    from harness.experiment.plan import eval_dtype

    dtype = eval_dtype("auto", "cpu")
    assert dtype == "float32"  # what `harness eval` picks on a CPU
    backend = HFBackend(ModelSpec("base", str(smollm_dir)), BackendOptions(dtype=dtype, device="cpu"))
    clauses = [Clause("4. Within 60 days after the loss, send us a proof of loss.", "Dwelling Form > VII. > J."),
               Clause("We will not pay for loss caused by mold that results from your failure to inspect.", "V. C.")]
    questions = ["When must I send a proof of loss?", "Is mold covered?", "What is the deductible?",
                 "Does the policy cover cars?", "How long is the waiting period for a new policy?",
                 "What happens if I move property to protect it?"]
    reqs = [GenRequest(f"q{i}", build_messages(q, clauses[: 1 + i % 2]), decoding=DecodingConfig(max_new_tokens=24))
            for i, q in enumerate(questions)]
    single = [backend.generate([r])[0].text for r in reqs]
    batch6 = [g.text for g in backend.generate(reqs)]
    batch3 = [g.text for at in (0, 3) for g in backend.generate(reqs[at:at + 3])]
    shuffled_order = [4, 1, 5, 0, 3, 2]
    shuffled = {shuffled_order[j]: g.text for j, g in enumerate(backend.generate([reqs[i] for i in shuffled_order]))}
    assert single == batch6 == batch3 == [shuffled[i] for i in range(len(reqs))]
    backend.close()
