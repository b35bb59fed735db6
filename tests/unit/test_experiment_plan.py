"""Decoding presets, cells, sweeps, seeds, and the append-only cache: inputs with known answers."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.config import DecodingConfig, DecodingOverrides, EvalConfig, apply_decoding, build_config
from harness.errors import HarnessError
from harness.experiment.plan import build_cells, builtin_presets, describe_presets, parse_grid_option, request_seed
from harness.experiment.store import JsonlStore


def test_seed_presets_are_the_seeds_settings():
    p = {name: preset.decoding() for name, preset in builtin_presets().items()}
    assert p["greedy"] == DecodingConfig()
    assert p["seed-default"] == DecodingConfig(do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.0,
                                               max_new_tokens=256)
    assert p["seed-optimized"] == DecodingConfig(do_sample=True, temperature=0.1, top_p=0.9, repetition_penalty=1.2,
                                                 max_new_tokens=256)
    listing = describe_presets()
    assert "seed-optimized   sampling: temperature 0.1, top_p 0.9" in listing


def test_overrides_field_names_follow_decoding_config():
    assert [f.name for f in dataclasses.fields(DecodingOverrides)] == [f.name for f in dataclasses.fields(DecodingConfig)]


def test_temperature_decides_sampling_unless_told():
    greedy = DecodingConfig()
    assert apply_decoding(greedy, {"temperature": 0.7}).do_sample is True
    optimized = builtin_presets()["seed-optimized"].decoding()
    assert apply_decoding(optimized, {"temperature": 0}).greedy
    with pytest.raises(HarnessError, match="sampling needs temperature > 0"):
        apply_decoding(greedy, {"do_sample": True, "temperature": 0})
    with pytest.raises(HarnessError, match="unknown decoding setting 'temp'"):
        apply_decoding(greedy, {"temp": 1})
    # Greedy ignores the sampling knobs: they do not split the cache.
    assert DecodingConfig(temperature=0.3, seed=5).effective() == DecodingConfig().effective()
    assert DecodingConfig(do_sample=True, seed=5).effective() != DecodingConfig(do_sample=True).effective()


def test_cells_are_presets_times_grid_points():
    cfg = build_config(EvalConfig, {"decoding": ["greedy", "seed-optimized"], "repeats": 3,
                                    "grid": {"temperature": [0.1, 0.7], "repetition_penalty": [1.0, 1.2]}})
    cells = build_cells(cfg)
    assert len(cells) == 8
    assert cells[0].name == "greedy[temperature=0.1,repetition_penalty=1.0]"
    assert cells[0].decoding.do_sample and cells[0].decoding.temperature == 0.1 and cells[0].repeats == 3
    assert cells[-1].name == "seed-optimized[temperature=0.7,repetition_penalty=1.2]"
    assert cells[-1].decoding.top_p == 0.9  # the preset's own settings stay
    assert cells[0].seeds() == [0, 1, 2]
    plain = build_cells(build_config(EvalConfig, {"decoding": ["greedy", "seed-default"], "repeats": 3}))
    assert [(c.name, c.repeats) for c in plain] == [("greedy", 1), ("seed-default", 3)]  # greedy needs one


def test_user_presets_and_unknown_names():
    cfg = build_config(EvalConfig, {"decoding": ["mine"], "presets": {"mine": {"temperature": 0.3, "top_k": 20}}})
    (cell,) = build_cells(cfg)
    assert cell.decoding == DecodingConfig(do_sample=True, temperature=0.3, top_k=20)
    with pytest.raises(HarnessError, match="unknown decoding preset 'seed-defualt' \\(did you mean 'seed-default'\\?\\)"):
        build_cells(build_config(EvalConfig, {"decoding": ["seed-defualt"]}))


def test_grid_option_parsing():
    assert parse_grid_option("temperature=0.1,0.7") == ("temperature", [0.1, 0.7])
    assert parse_grid_option("do_sample=true,false") == ("do_sample", [True, False])
    with pytest.raises(HarnessError, match="--grid takes SETTING=V1,V2"):
        parse_grid_option("temperature")


def test_request_seed_depends_on_seed_and_prompt_only():
    assert request_seed(0, "b2:aa") == request_seed(0, "b2:aa")
    assert len({request_seed(0, "b2:aa"), request_seed(1, "b2:aa"), request_seed(0, "b2:bb")}) == 3


def test_store_survives_a_torn_line_and_a_second_writer(tmp_path):
    path = tmp_path / "c.jsonl"
    a = JsonlStore(path)
    a.put("k1", {"text": "one"})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"key": "k2", "value": {"te')  # a kill in the middle of a line
    b = JsonlStore(path)
    assert b.get("k1") == {"text": "one"} and b.get("k2") is None
    b.put_many([("k2", {"text": "two"}), ("k3", {"text": "three"})])  # the torn line is closed first
    c = JsonlStore(path)
    assert len(c) == 3 and c.get("k2") == {"text": "two"}
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sum(1 for line in lines if _parses(line)) == 3
    a.put("k4", {"text": "four"})  # an older handle appends without clobbering the other's lines
    assert JsonlStore(path).get("k3") == {"text": "three"} and JsonlStore(path).get("k4") == {"text": "four"}


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False
