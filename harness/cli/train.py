"""`harness train`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option, encoding_option
from training.config import LoraConfig, TrainConfig


@cli.command("train")
@encoding_option
@config_option(TrainConfig, "dataset", "--dataset")
@config_option(TrainConfig, "name", "--name")
@config_option(TrainConfig, "base_model", "--base-model")
@config_option(TrainConfig, "preset", "--preset", type=click.Choice(["fast", "balanced", "quality", "memory_efficient"]))
@config_option(TrainConfig, "quant", "--quant", type=click.Choice(["none", "4bit", "8bit"]))
@config_option(TrainConfig, "epochs", "--epochs", type=float)
@config_option(TrainConfig, "max_steps", "--max-steps", type=int)
@config_option(TrainConfig, "learning_rate", "--learning-rate", "--lr", type=float)
@config_option(TrainConfig, "batch_size", "--batch-size", type=int)
@config_option(TrainConfig, "grad_accum", "--grad-accum", type=int)
@config_option(TrainConfig, "max_length", "--max-length", type=int)
@config_option(TrainConfig, "eval_fraction", "--eval-fraction", type=float)
@config_option(TrainConfig, "eval_steps", "--eval-steps", type=int)
@config_option(TrainConfig, "early_stopping", "--early-stopping", type=int)
@config_option(TrainConfig, "gradient_checkpointing", "--gradient-checkpointing/--no-gradient-checkpointing")
@config_option(TrainConfig, "neftune_alpha", "--neftune-alpha", type=float)
@config_option(TrainConfig, "dtype", "--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]))
@config_option(TrainConfig, "device", "--device")
@config_option(TrainConfig, "seed", "--seed", type=int)
@config_option(TrainConfig, "adapters_dir", "--adapters-dir", type=click.Path(file_okay=False, path_type=str))
@config_option(TrainConfig, "track", "--track", metavar="mlflow")
@config_option(LoraConfig, "r", "--lora-r", type=int)
@config_option(LoraConfig, "alpha", "--lora-alpha", type=int)
@config_option(LoraConfig, "dropout", "--lora-dropout", type=float)
@config_option(LoraConfig, "target_modules", "--target-modules", multiple=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings, LoRA ones under `lora:` (flags override it).")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False, path_type=Path), default="models.json",
              show_default=True, help="Registered models file the adapter's name is added to.")
@click.option("--overwrite", is_flag=True, help="Replace an adapter already registered under --name.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run of this --name from its last checkpoint.")
@click.option("--list-presets", is_flag=True, help="Print the presets and exit.")
def train_cmd(dataset, name, base_model, preset, quant, epochs, max_steps, learning_rate, batch_size, grad_accum,
              max_length, eval_fraction, eval_steps, early_stopping, gradient_checkpointing, neftune_alpha, dtype,
              device, seed, adapters_dir, track, lora_r, lora_alpha, lora_dropout, target_modules, config_path, registry_path, overwrite,
              resume, list_presets) -> None:
    """Train a LoRA (or 4-bit QLoRA) adapter and register it under --name.

    TRL's SFTTrainer over prompt-completion examples; the loss is on the answer tokens only,
    every answer ends in the EOS token, and the pad token is never the EOS. A held-out slice
    of the questions gives an eval loss, with early stopping. The adapter lands in
    ADAPTERS_DIR/NAME/ (safetensors, tokenizer, training_stats.json, loss_log.jsonl,
    harness_adapter.json with the base model's weight digest, the dataset hash, the config and
    the code version) and NAME in models.json, so `harness eval --models base NAME` finds it.
    Nothing is registered until the adapter is complete.

    \b
    Example usage:
      harness train --dataset qa --name my-v1                   # the seed's v1, bundled model, CPU
      harness train --dataset rag --name my-v2
      harness train --dataset rag --name my-v2 --track mlflow     # loss curves in MLflow (./mlruns)
      harness train --dataset training/data/rag.jsonl --name v2 --overwrite   # replace the shipped v2
      harness train --dataset rag --name ko-v2 --base-model beomi/Llama-3-Open-Ko-8B --preset memory_efficient
      accelerate launch --config_file training/accelerate/multi_gpu.yaml -m harness.cli train --dataset rag --name v2
    """
    from training.train import list_presets as presets_text
    from training.train import load_train_config, train

    if list_presets:
        click.echo(presets_text())
        return
    cfg = load_train_config(config_path, {
        "dataset": dataset, "name": name, "base_model": base_model, "preset": preset, "quant": quant,
        "epochs": epochs, "max_steps": max_steps, "learning_rate": learning_rate, "batch_size": batch_size,
        "grad_accum": grad_accum, "max_length": max_length, "eval_fraction": eval_fraction, "eval_steps": eval_steps,
        "early_stopping": early_stopping, "gradient_checkpointing": gradient_checkpointing,
        "neftune_alpha": neftune_alpha, "dtype": dtype, "device": device, "seed": seed, "adapters_dir": adapters_dir,
        "track": track,
        "lora.r": lora_r, "lora.alpha": lora_alpha, "lora.dropout": lora_dropout, "lora.target_modules": list(target_modules) or None,
    })
    from harness.tracking import check_tracker

    check_tracker(cfg.track)  # before any weights are loaded
    result = train(cfg, registry_path=registry_path, overwrite=overwrite, resume=resume)
    if result.stats:
        s = result.stats
        click.echo(f"trained {result.name}: {s['steps']} steps, loss {s['first_loss']} -> {s['final_loss']}"
                   f"{', best eval loss ' + str(s['best_eval_loss']) if s['best_eval_loss'] is not None else ''}, "
                   f"{s['wall_seconds']} s, {s['tokens_per_second']} tokens/s; registered in {result.registry_path}",
                   err=True)
        click.echo(str(result.adapter_dir))
