"""Plan an experiment: decoding presets, sweeps and repeats -> cells; the models and backend
options, checked before anything is written. Presets are data (presets.yaml), not code."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from harness.backends.base import BackendOptions, backend_registry
from harness.config import DecodingConfig, DecodingOverrides, EvalConfig, apply_decoding, build_config, load_config
from harness.errors import HarnessError
from harness.io import content_hash
from harness.models import ModelSpec, get_model, load_model_registry
from harness.registry import unknown_name_message

PRESETS_FILE = Path(__file__).with_name("presets.yaml")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    settings: dict[str, Any]

    def decoding(self) -> DecodingConfig:
        return apply_decoding(DecodingConfig(), self.settings)


@lru_cache(maxsize=1)
def builtin_presets() -> dict[str, Preset]:
    import yaml

    data = yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))
    out = {}
    for name, body in data.items():
        body = dict(body)
        description = body.pop("description", "")
        build_config(DecodingOverrides, body, path=PRESETS_FILE, prefix=f"{name}.")  # checks keys and types
        out[name] = Preset(name, description, body)
    return out


def all_presets(cfg: EvalConfig | None = None) -> dict[str, Preset]:
    """Built-in presets plus the experiment's own (which may replace a built-in name)."""
    presets = dict(builtin_presets())
    for name, overrides in (cfg.presets if cfg else {}).items():
        presets[name] = Preset(name, "defined in the experiment file", overrides.given())
    return presets


@dataclass(frozen=True)
class Cell:
    """One decoding setting of the experiment; every model answers every question in it."""

    name: str
    preset: str
    decoding: DecodingConfig
    repeats: int  # greedy decoding is deterministic: one repeat whatever was asked

    def seeds(self) -> list[int]:
        return [self.decoding.seed + r for r in range(self.repeats)]

    def to_dict(self) -> dict:
        return {"name": self.name, "preset": self.preset, "decoding": self.decoding.effective(),
                "repeats": self.repeats}


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """`temperature=0.1,0.7` -> ("temperature", [0.1, 0.7]); values are read as YAML scalars."""
    import yaml

    key, eq, values = text.partition("=")
    if not eq or not key.strip() or not values.strip():
        raise HarnessError(f"--grid takes SETTING=V1,V2,... (e.g. temperature=0.1,0.7), got {text!r}")
    return key.strip(), [yaml.safe_load(v.strip()) for v in values.split(",") if v.strip()]


def _label(settings: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items())


def build_cells(cfg: EvalConfig) -> list[Cell]:
    """Each preset x each grid point, with the overrides on top; names say what was changed."""
    presets = all_presets(cfg)
    overrides = cfg.decoding_overrides.given()
    grid_keys = list(cfg.grid)
    points = [dict(zip(grid_keys, combo)) for combo in itertools.product(*(cfg.grid[k] for k in grid_keys))] or [{}]
    cells: list[Cell] = []
    for preset_name in dict.fromkeys(cfg.decoding):
        if preset_name not in presets:
            raise HarnessError(unknown_name_message("decoding preset", preset_name, sorted(presets)))
        preset = presets[preset_name]
        for point in points:
            changed = {**overrides, **point}
            try:
                decoding = apply_decoding(preset.decoding(), changed)
            except HarnessError as e:
                where = f"{preset_name}[{_label(changed)}]" if changed else preset_name
                raise HarnessError(f"decoding {where}: {e.message}") from None
            name = f"{preset_name}[{_label(changed)}]" if changed else preset_name
            cells.append(Cell(name, preset_name, decoding, cfg.repeats if decoding.do_sample else 1))
    return cells


def request_seed(base_seed: int, prompt_hash: str) -> int:
    """The seed one question's sampling uses: fixed by the repeat's seed and the prompt, so an
    answer does not depend on which other questions shared its batch or on the run order."""
    return int(content_hash({"seed": base_seed, "prompt": prompt_hash}, length=15)[3:], 16)


def describe_presets(cfg: EvalConfig | None = None) -> str:
    lines = []
    for name, preset in all_presets(cfg).items():
        d = preset.decoding()
        if d.greedy:
            what = f"greedy, max_new_tokens {d.max_new_tokens}"
        else:
            what = (f"sampling: temperature {d.temperature}, top_p {d.top_p}, top_k {d.top_k}, "
                    f"max_new_tokens {d.max_new_tokens}")
        what += f", repetition_penalty {d.repetition_penalty}"
        if d.no_repeat_ngram_size:
            what += f", no_repeat_ngram_size {d.no_repeat_ngram_size}"
        lines.append(f"{name:<16} {what}\n{'':<16} {preset.description}")
    return "\n".join(lines)


def eval_dtype(dtype: str, device: str) -> str:
    """`auto` for experiments: float32 on CPU, where answers were measured not to change with the
    batch size (bf16 ones do); bf16 (fp16 without bf16) on GPUs, recorded in the cache key."""
    if dtype != "auto":
        return dtype
    from harness.backends.hf import pick_device, pick_dtype

    resolved = pick_device(device)
    return "float32" if resolved == "cpu" else str(pick_dtype("auto", resolved)).replace("torch.", "")


@dataclass(frozen=True)
class Plan:
    cfg: EvalConfig
    specs: list[ModelSpec]
    cells: list[Cell]
    options: BackendOptions
    skipped: list[str] = dataclasses.field(default_factory=list)  # models left out: not registered


def check_plan(cfg: EvalConfig, registry_path: Path) -> Plan:
    """Every name and file resolved, every model checked, before anything is written."""
    backend_cls = backend_registry.get(cfg.backend)  # unknown names raise with the known ones
    cells = build_cells(cfg)
    names = list(dict.fromkeys(cfg.models))
    skipped: list[str] = []
    if cfg.skip_unregistered:
        registered = set(load_model_registry(Path(registry_path)))
        skipped = [n for n in names if n != "base" and n not in registered]
        names = [n for n in names if n not in skipped]
        if not names:
            raise HarnessError(f"none of the models {', '.join(cfg.models)} is registered in {registry_path}")
    specs = [get_model(name, cfg.base_model, registry_path) for name in names]
    for spec in specs:
        # A backend may check (and prepare, e.g. convert a bundled model) what it will load.
        getattr(backend_cls, "prepare", lambda s: None)(spec)
    dtype = eval_dtype(cfg.dtype, cfg.device) if cfg.backend == "hf" else cfg.dtype
    return Plan(cfg, specs, cells, backend_options(cfg, dtype), skipped)


def backend_options(cfg: EvalConfig, dtype: str) -> BackendOptions:
    return BackendOptions(dtype=dtype, device=cfg.device, load_in_4bit=cfg.load_in_4bit, api_base=cfg.api_base,
                          prefill_dtype=cfg.prefill_dtype,
                          api_key_env=cfg.api_key_env, concurrency=cfg.concurrency,
                          request_timeout=cfg.request_timeout, max_retries=cfg.max_retries,
                          server_params=cfg.server_params)


def load_experiment(config_path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> EvalConfig:
    """An experiment file (or none) plus flags, with its preset names and every preset x grid
    point checked now: a bad value in the file is reported with the file's name before anything runs."""
    cfg = load_config(EvalConfig, config_path, overrides)
    try:
        build_cells(cfg)
    except HarnessError as e:
        if e.path is None and config_path:
            raise HarnessError(e.message, config_path) from None
        raise
    return cfg
