"""`harness train`: a LoRA / QLoRA adapter through TRL's SFTTrainer, written atomically and
registered by name in models.json.

Stages, each taking and returning plain records:
  prepare_examples  training JSONL (or a dataset built on the fly) -> checked examples
  tokenize_example  (training.data) one example -> input_ids + labels (-100 on the prompt; the answer ends in EOS)
  split_by_question held-out slice for eval loss, variants of one question kept together
  run_trainer       SFTTrainer over the tokenized sets -> adapter weights + log history
  finalize          adapter folder (safetensors, tokenizer, training_stats.json, manifest) renamed
                    into place, then registered: a run killed before this leaves no trace in the
                    registry, and `--resume` continues from its last checkpoint.

The prompt is rendered by `harness.prompts.render_prompt`, the same call `harness eval` makes, and
tokenized the same way, so the model is trained on exactly the token sequence it will be given.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.config import to_dict
from harness.errors import HarnessError
from harness.tracking import prepare_training_tracking
from harness.io import atomic_write_json, content_hash, sha256_file
from harness.models import (ADAPTER_MANIFEST, ADAPTER_WEIGHTS, MODELS_FILE, check_model_name, load_model_registry,
                            register_model, resolve_base_model, weights_digest)
from training.config import DATASET_KINDS, PRESETS, DataConfig, TrainConfig
from training.data import tokenize_example

log = logging.getLogger(__name__)

# Tokens worth trying as a pad that is not the EOS, best first; any must already be in the vocabulary
# (adding a token would change the embedding matrix the adapter is paired with).
PAD_CANDIDATES = ("<pad>", "<|finetune_right_pad_id|>", "<|pad|>", "[PAD]", "<|endoftext|>", "<unk>",
                  "<|reserved_special_token_0|>")


@dataclass(frozen=True)
class TrainResult:
    name: str
    adapter_dir: Path
    stats: dict
    registry_path: Path


def list_presets() -> str:
    lines = []
    for name, preset in PRESETS.items():
        settings = ", ".join(f"{k}={v}" for k, v in preset["overrides"].items())
        lines.append(f"{name}: {preset['about']}\n    {settings}")
    return "\n".join(lines)


def load_train_config(yaml_path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < preset < YAML < flags; the preset named by a flag, else by the YAML, else 'fast'."""
    from harness.config import load_config

    preset = overrides.get("preset")
    if preset is None and yaml_path is not None:
        from harness.config import read_yaml

        try:
            loaded = read_yaml(Path(yaml_path)) or {}
        except (OSError, HarnessError):
            loaded = {}  # load_config reports the problem with file and line
        preset = loaded.get("preset") if isinstance(loaded, dict) else None
        if not (isinstance(preset, str) and preset in PRESETS):
            preset = None  # load_config reports a bad preset in the file with file and line
    preset = preset or TrainConfig.preset
    if preset not in PRESETS:
        raise HarnessError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return load_config(TrainConfig, yaml_path, overrides, defaults=PRESETS[preset]["overrides"])


# ---------------------------------------------------------------------------------------------
# Tokens


def pick_pad_token(tokenizer) -> str:
    """A pad token distinct from the EOS (and from every end-of-turn id), chosen from the
    vocabulary. Padding is masked out of the loss; if the pad were the EOS, the one EOS that
    teaches the model to stop could be masked with it."""
    eos_ids = {tokenizer.eos_token_id}
    pad = tokenizer.pad_token
    if pad is not None and tokenizer.pad_token_id not in eos_ids:
        return pad
    vocab = tokenizer.get_vocab()
    for cand in (tokenizer.unk_token, *PAD_CANDIDATES):
        if cand and cand in vocab and vocab[cand] not in eos_ids:
            return cand
    raise HarnessError(f"the tokenizer has no token to pad with other than its EOS {tokenizer.eos_token!r}; "
                       "give the base model a pad token (tokenizer.pad_token) first")


def split_by_question(examples: Sequence[dict], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, eval indices): a `fraction` of the questions held out, with all their variants."""
    groups: dict[tuple, list[int]] = {}
    for i, ex in enumerate(examples):
        meta = ex.get("meta") or {}
        key = (meta.get("source"), meta.get("question_id")) if meta.get("question_id") else ("line", i)
        groups.setdefault(key, []).append(i)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    n_eval = round(fraction * len(keys)) if len(keys) >= 4 else 0
    held = set(keys[:n_eval])
    train = [i for k in keys if k not in held for i in groups[k]]
    evals = [i for k in keys if k in held for i in groups[k]]
    return sorted(train), sorted(evals)


# ---------------------------------------------------------------------------------------------
# Inputs


def check_inputs(cfg: TrainConfig, registry_path: Path, overwrite: bool) -> None:
    """Everything the user can get wrong, before any file is written."""
    if not cfg.name:
        raise HarnessError("give the adapter a name with --name (e.g. v2)")
    check_model_name(cfg.name)
    if cfg.name in load_model_registry(registry_path) and not overwrite:
        raise HarnessError(f"model {cfg.name!r} is already registered (pass --overwrite to replace it)", registry_path)
    resolve_base_model(cfg.base_model)  # a base model that cannot be found fails here, before any file is written
    if cfg.dataset not in DATASET_KINDS and not Path(cfg.dataset).is_file():
        raise HarnessError(f"unknown dataset {cfg.dataset!r}: neither {' nor '.join(DATASET_KINDS)} nor an existing JSONL file")
    if cfg.quant != "none":
        import torch

        if not (cfg.device in ("auto",) or cfg.device.startswith("cuda")) or not torch.cuda.is_available():
            raise HarnessError(f"--quant {cfg.quant} needs a CUDA GPU with bitsandbytes; this device has none "
                               "(use --quant none to train bf16/fp32 LoRA)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise HarnessError(f"--quant {cfg.quant} needs bitsandbytes (pip install bitsandbytes)") from None


def prepare_examples(cfg: TrainConfig, work_dir: Path) -> tuple[list[dict], dict | None, Path]:
    """The training examples (checked), their manifest, and the file they came from."""
    from training.data import build_dataset, load_examples

    if cfg.dataset in DATASET_KINDS and not Path(cfg.dataset).is_file():
        built = build_dataset(DataConfig(dataset=cfg.dataset, out=str(work_dir / f"{cfg.dataset}.jsonl"),
                                         base_model=cfg.base_model))
        path = built.path
    else:
        path = Path(cfg.dataset)
    examples, manifest = load_examples(path)
    return examples, manifest, path


def tokenize_all(examples: Sequence[dict], tokenizer, max_length: int) -> tuple[list[dict], list[int]]:
    """(tokenized rows, indices of the examples kept); too-long ones are dropped, not truncated."""
    rows, kept = [], []
    for i, ex in enumerate(examples):
        row = tokenize_example(ex, tokenizer, (ex.get("meta") or {}).get("language", "en"))
        if len(row["input_ids"]) <= max_length:
            rows.append(row)
            kept.append(i)
    return rows, kept


# ---------------------------------------------------------------------------------------------
# Model


def load_for_training(cfg: TrainConfig):
    """(peft model, tokenizer, resolved base path, device) with LoRA attached and the pad fixed."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from harness.backends.hf import load_causal_lm

    model, tokenizer, path, device = load_causal_lm(
        cfg.base_model, dtype=cfg.dtype, device=cfg.device, load_in_4bit=cfg.quant == "4bit",
        load_in_8bit=cfg.quant == "8bit")
    tokenizer.pad_token = pick_pad_token(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if cfg.quant != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    targets = cfg.lora.target_modules
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, bias="none",
                      task_type="CAUSAL_LM",
                      target_modules="all-linear" if tuple(targets) == ("all-linear",) else list(targets))
    torch.manual_seed(cfg.seed)
    try:
        model = get_peft_model(model, lora)
    except ValueError as e:
        raise HarnessError(f"cannot attach LoRA to {cfg.base_model!r}: {str(e).splitlines()[0]}") from None
    model.train()
    return model, tokenizer, path, device


# ---------------------------------------------------------------------------------------------
# Trainer


def loss_log_callback(path: Path):
    """A TrainerCallback writing one JSON line per log event to `path`, flushed as it goes, so
    a killed run keeps its loss curve."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.is_world_process_zero:
                row = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **logs}
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")

    return LossLog()


def completion_loss(model, inputs: dict, num_items_in_batch=None):
    """Summed cross-entropy over the labelled (answer) positions divided by their count, with
    the LM head applied to those positions only (transformers' `logits_to_keep` given as
    indices; the call still goes through the top-level forward, so DDP and PEFT wrappers see
    it). Prompts are ~90 % of our tokens; projecting them onto a 49k-word vocabulary is most of
    a CPU step, and TRL's tiled fused head is slower still on CPU (measured on one 949-token
    example: 4.1 s here, 8-10 s fused, 6.4 s with full logits)."""
    import torch

    labels = inputs["labels"]
    targets = labels[:, 1:]
    positions = (targets != -100).any(dim=0).nonzero().flatten()  # position p predicts token p + 1
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**kwargs, use_cache=False, logits_to_keep=positions).logits.float()
    picked = targets[:, positions]
    total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), picked.reshape(-1),
                                              ignore_index=-100, reduction="sum")
    denom = (picked != -100).sum() if num_items_in_batch is None else num_items_in_batch
    return total / torch.as_tensor(denom, device=total.device).clamp(min=1)


def _trainer_class():
    """SFTTrainer with `completion_loss` as its loss. The one override of TRL here: everything
    else (data collation, optimizer, schedule, checkpoints, NEFTune, accelerate) is TRL's."""
    from trl import SFTTrainer

    class CompletionLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = completion_loss(model, inputs, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return CompletionLossSFTTrainer


def sft_config(cfg: TrainConfig, out_dir: Path, device: str, has_eval: bool):
    """TRL's SFTConfig from ours. Every default TRL would pick differently is set explicitly
    (bf16 autocast and gradient checkpointing are on in TRL; here they follow the config)."""
    import torch
    from trl import SFTConfig

    cuda = device.startswith("cuda")
    half = cuda and cfg.dtype in ("auto", "bfloat16", "float16")
    bf16 = half and (cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and torch.cuda.is_bf16_supported()))
    eval_kwargs: dict[str, Any] = {"eval_strategy": "no", "save_strategy": "steps", "save_steps": cfg.eval_steps}
    if has_eval:
        eval_kwargs = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps, "save_strategy": "steps",
                       "save_steps": cfg.eval_steps, "load_best_model_at_end": cfg.early_stopping > 0,
                       "metric_for_best_model": "eval_loss", "greater_is_better": False,
                       "per_device_eval_batch_size": cfg.batch_size}
    return SFTConfig(
        output_dir=str(out_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a share of the steps
        bf16=bf16,
        fp16=half and not bf16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        neftune_noise_alpha=cfg.neftune_alpha or None,
        optim="paged_adamw_32bit" if cfg.quant != "none" else "adamw_torch",
        max_length=None,  # lengths were checked in tokenize_all: nothing is truncated
        train_sampling_strategy="group_by_length" if cfg.batch_size > 1 else "random",
        logging_steps=cfg.logging_steps,
        save_total_limit=2,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=prepare_training_tracking(cfg.track),
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        prediction_loss_only=True,
        **eval_kwargs,
    )


def run_trainer(cfg: TrainConfig, model, tokenizer, train_rows: list[dict], eval_rows: list[dict], work_dir: Path,
                device: str, resume: bool) -> tuple[Any, float]:
    """Train; returns (trainer, wall seconds)."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    args = sft_config(cfg, work_dir / "checkpoints", device, bool(eval_rows))
    callbacks = [loss_log_callback(work_dir / "loss_log.jsonl")]
    if eval_rows and cfg.early_stopping > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping))
    trainer = _trainer_class()(model=model, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None, callbacks=callbacks)
    checkpoint = None
    if resume:
        found = sorted((work_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not found:
            raise HarnessError("nothing to resume: no checkpoint from an earlier run of this name", work_dir)
        checkpoint = str(found[-1])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    return trainer, time.perf_counter() - started


def peak_memory_mb(device: str) -> float:
    import resource

    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def training_stats(trainer, wall: float, train_rows: list[dict], eval_rows: list[dict], dropped: int,
                   device: str) -> dict:
    history = trainer.state.log_history
    losses = [{"step": h["step"], "loss": round(h["loss"], 5)} for h in history if "loss" in h]
    evals = [{"step": h["step"], "eval_loss": round(h["eval_loss"], 5)} for h in history if "eval_loss" in h]
    steps = trainer.state.global_step
    per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps * trainer.args.world_size
    n_train = len(train_rows)
    train_tokens = sum(len(r["input_ids"]) for r in train_rows)
    tokens = steps * per_step * train_tokens / max(1, n_train)  # tokens through the model (mean length x examples seen)
    return {
        "steps": steps,
        "epochs": round(trainer.state.epoch or 0, 3),
        "examples": {"train": n_train, "eval": len(eval_rows), "dropped_too_long": dropped},
        "train_tokens": train_tokens,
        "completion_tokens": sum(sum(1 for t in r["labels"] if t != -100) for r in train_rows),
        "losses": losses,
        "eval_losses": evals,
        "first_loss": losses[0]["loss"] if losses else None,
        "final_loss": losses[-1]["loss"] if losses else None,
        "best_eval_loss": min((e["eval_loss"] for e in evals), default=None),
        "stopped_early": steps < trainer.state.max_steps,  # the planned total, from max_steps or epochs
        "wall_seconds": round(wall, 1),
        "tokens_per_second": round(tokens / wall, 1) if wall else None,
        "seconds_per_step": round(wall / steps, 2) if steps else None,
        "peak_memory_mb": peak_memory_mb(device),
        "device": device,
    }


# ---------------------------------------------------------------------------------------------
# The whole run


def train(cfg: TrainConfig, registry_path: Path = Path(MODELS_FILE), overwrite: bool = False,
          resume: bool = False) -> TrainResult:
    registry_path = Path(registry_path)
    check_inputs(cfg, registry_path, overwrite)
    adapters = Path(cfg.adapters_dir)
    work_dir = adapters / f".{cfg.name}.partial"
    if work_dir.exists() and not resume:
        shutil.rmtree(work_dir)  # an earlier run that did not finish; --resume would have continued it
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        examples, data_manifest, data_path = prepare_examples(cfg, work_dir)
        train_idx, eval_idx = split_by_question(examples, cfg.eval_fraction, cfg.seed)
        model, tokenizer, base_path, device = load_for_training(cfg)
        train_rows, kept = tokenize_all([examples[i] for i in train_idx], tokenizer, cfg.max_length)
        eval_rows, eval_kept = tokenize_all([examples[i] for i in eval_idx], tokenizer, cfg.max_length)
        dropped = len(train_idx) - len(kept) + len(eval_idx) - len(eval_kept)
        if not train_rows:
            raise HarnessError(f"no training example left after dropping {dropped} longer than max_length "
                               f"({cfg.max_length} tokens)", data_path)
    except BaseException:
        if not resume:  # nothing trained yet: leave no trace (a resumed run keeps its checkpoints)
            shutil.rmtree(work_dir, ignore_errors=True)
            _remove_if_empty(adapters)
        raise
    if dropped:
        log.warning("dropped %d example(s) longer than %d tokens", dropped, cfg.max_length)

    trainer, wall = run_trainer(cfg, model, tokenizer, train_rows, eval_rows, work_dir, device, resume)
    if not trainer.is_world_process_zero():
        return TrainResult(cfg.name, adapters / cfg.name, {}, registry_path)
    stats = training_stats(trainer, wall, train_rows, eval_rows, dropped, device)
    final, manifest = finalize(cfg, trainer.model, tokenizer, base_path, data_path, data_manifest, stats, work_dir)
    adapter_dir = adapters / cfg.name
    _replace_dir(final, adapter_dir)
    register_model(cfg.name, {"base_model": cfg.base_model, "adapter_dir": str(adapter_dir),
                              "adapter_sha": manifest["adapter_sha256"][:16],
                              "dataset_sha256": manifest["dataset"]["sha256"]}, registry_path, overwrite=True)
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainResult(cfg.name, adapter_dir, stats, registry_path)


def finalize(cfg: TrainConfig, model, tokenizer, base_path: str, data_path: Path, data_manifest: dict | None,
             stats: dict, work_dir: Path) -> tuple[Path, dict]:
    """The adapter folder, complete, inside work_dir (renamed into place by the caller), and its manifest."""
    from harness.provenance import code_version

    final = work_dir / "final"
    if final.exists():
        shutil.rmtree(final)
    model.save_pretrained(final, safe_serialization=True)
    tokenizer.save_pretrained(final)
    (final / "README.md").unlink(missing_ok=True)  # peft's empty model-card template; our manifest says more
    if (final / "adapter_model.bin").exists() or not (final / ADAPTER_WEIGHTS).is_file():
        raise HarnessError("the adapter was not saved as safetensors", final)
    atomic_write_json(final / "training_stats.json", stats)
    if data_manifest is not None:
        atomic_write_json(final / "dataset.manifest.json", data_manifest)
    if (work_dir / "loss_log.jsonl").exists():
        shutil.copy(work_dir / "loss_log.jsonl", final / "loss_log.jsonl")
    recorded_path = str(data_path)
    if data_path.resolve().is_relative_to(work_dir.resolve()):
        # Built on the fly (`--dataset rag`): keep the examples with the adapter they made.
        shutil.copy(data_path, final / "train_data.jsonl")
        recorded_path = "train_data.jsonl (in the adapter folder)"
    manifest = {
        "name": cfg.name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "base_model": {"name": cfg.base_model, "weights_digest": weights_digest(base_path),
                       "eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token},
        "dataset": {"path": recorded_path, "sha256": sha256_file(data_path),
                    "kind": (data_manifest or {}).get("dataset"), "stats": (data_manifest or {}).get("stats")},
        "config": to_dict(cfg),
        "config_hash": content_hash(to_dict(cfg)),
        "adapter_sha256": sha256_file(final / ADAPTER_WEIGHTS),
        "code_version": code_version(),
        "training": {k: stats[k] for k in ("steps", "epochs", "first_loss", "final_loss", "best_eval_loss",
                                           "wall_seconds", "tokens_per_second", "peak_memory_mb", "device")},
    }
    atomic_write_json(final / ADAPTER_MANIFEST, manifest)
    return final, manifest


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _replace_dir(src: Path, dst: Path) -> None:
    """Put src at dst with renames only: the old folder is moved aside first and removed last."""
    old = dst.with_name(f".{dst.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)

