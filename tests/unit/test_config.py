from __future__ import annotations

import pytest

from harness.config import EvalConfig, IndexConfig, load_config, to_dict
from harness.errors import HarnessError


def test_defaults_then_yaml_then_flags(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("k: 3\nmodels: [base, v1]\ndecoding: [seed-default]\n"
                    "decoding_overrides:\n  temperature: 0.7\n  max_new_tokens: 64\n", encoding="utf-8")
    cfg = load_config(EvalConfig, path, {"k": None, "decoding_overrides.max_new_tokens": 32, "batch_size": 2})
    assert cfg.k == 3  # from YAML; the flag was not given
    assert cfg.models == ("base", "v1") and cfg.decoding == ("seed-default",)
    assert cfg.decoding_overrides.given() == {"temperature": 0.7, "max_new_tokens": 32}  # flag beats YAML
    assert cfg.batch_size == 2
    assert cfg.eval_set == EvalConfig().eval_set  # default


def test_unknown_key_is_reported_at_its_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("k: 3\ndecoding_overrides:\n  temprature: 0.1\n", encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_config(EvalConfig, path)
    assert str(e.value).startswith(f"{path}:3: unknown key 'decoding_overrides.temprature'")
    path.write_text("presets:\n  mine:\n    top_p: 0.9\n    top_k: many\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":4: 'presets.mine.top_k' must be an integer"):
        load_config(EvalConfig, path)


def test_wrong_type_and_bad_value(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("k: five\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r":1: 'k' must be an integer"):
        load_config(EvalConfig, path)
    path.write_text("decoding_overrides:\n  temperature: -1\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="decoding_overrides: temperature must be >= 0"):
        load_config(EvalConfig, path)
    path.write_text("presets:\n  mine: {do_sample: true, temperature: 0}\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="presets.mine: sampling needs temperature > 0"):
        load_config(EvalConfig, path)
    path.write_text("k: [1\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="invalid YAML"):
        load_config(EvalConfig, path)


def test_nested_index_config_round_trips():
    cfg = load_config(IndexConfig, None, {"corpus": ["a.txt", "b.md"], "chunking.max_tokens": 128})
    assert cfg.corpus == ("a.txt", "b.md") and cfg.chunking.max_tokens == 128
    assert to_dict(cfg)["corpus"] == ["a.txt", "b.md"]
    with pytest.raises(HarnessError, match="min_tokens must be between"):
        load_config(IndexConfig, None, {"chunking.max_tokens": 100, "chunking.min_tokens": 200})
    with pytest.raises(HarnessError, match="dense_index must be flat, hnsw or ivf"):
        load_config(IndexConfig, None, {"dense_index": "annoy"})
    with pytest.raises(HarnessError, match="mode must be dense, bm25 or hybrid"):
        load_config(EvalConfig, None, {"retrieval.mode": "sparse"})


def test_a_shipped_set_is_asked_of_its_own_index_unless_told_otherwise():
    from harness.config import DEFAULT_INDEX, EvalConfig, default_index_for
    from harness.evaluate import with_set_index

    assert default_index_for("eval_sets/sfip_ko/questions.jsonl") == "indexes/sfip_ko"
    assert default_index_for("eval_sets/sfip/starter.jsonl") == DEFAULT_INDEX
    assert default_index_for("my_sets/questions.jsonl") == DEFAULT_INDEX
    said = []
    ko = with_set_index(EvalConfig(eval_set="eval_sets/sfip_ko/questions.jsonl"), said.append)
    assert ko.index == "indexes/sfip_ko" and "indexes/sfip_ko" in said[0]
    mine = with_set_index(EvalConfig(eval_set="eval_sets/sfip_ko/questions.jsonl", index="indexes/mine"), said.append)
    assert mine.index == "indexes/mine" and len(said) == 1
