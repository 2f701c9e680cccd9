"""LoRA / QLoRA / full fine-tuning with the Hugging Face Trainer on a prepared dataset.

Run under torchrun (one process per device); DDP or FSDP come from the Trainer (gloo on CPU,
NCCL on GPU). Checkpoints are atomic (checkpoints.py); a restarted run resumes from the newest
complete one (locally, else from S3) at the same step with the same data order. Rank 0 writes
the final adapter (or full model) and `result.json`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from climb.config import TrainConfig
from climb.train.spec import TrainResult, TrainSpec

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
    """Training cannot start with this spec on this machine; the message says what to change."""


class TrainingStopped(RuntimeError):
    """Training stopped on a signal after saving a checkpoint; a restart resumes from it."""


def resolve_precision(cfg: TrainConfig, cuda: bool) -> str:
    """Return fp32 | bf16 | fp16 for this machine (auto: bf16 on GPU, fp32 on CPU)."""
    wanted = cfg.precision
    if wanted == "auto":
        wanted = "bf16" if cuda else "fp32"
    if wanted in ("bf16", "fp16") and not cuda:
        raise TrainError(f"train.precision={wanted} needs a GPU here; use fp32 or auto on CPU")
    return wanted


def build_model(model_path: str, cfg: TrainConfig, cuda: bool) -> Any:
    """Load the base model and wrap it for the chosen method (LoRA / QLoRA adapters or full)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if cfg.attn_implementation != "auto":
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.method == "qlora":
        if not cuda:
            raise TrainError(
                "train.method=qlora needs a CUDA GPU (bitsandbytes 4-bit); "
                "use train.method=lora on CPU"
            )
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    # No KV cache in training: it wastes memory, and transformers only builds packed-sequence
    # (block-diagonal) masks from position ids when no cache is passed.
    model.config.use_cache = False
    if cfg.method == "full":
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _fsdp_args(cfg: TrainConfig) -> dict[str, Any]:
    if cfg.distributed != "fsdp":
        return {}
    return {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {
            "use_orig_params": cfg.method != "full",
            "activation_checkpointing": cfg.gradient_checkpointing,
        },
    }


def training_arguments(spec: TrainSpec, cfg: TrainConfig, cuda: bool) -> Any:
    """Return the TrainingArguments for a spec (checkpoints, precision, DDP/FSDP, seed)."""
    from transformers import TrainingArguments

    from climb.train.checkpoints import STAGING

    precision = resolve_precision(cfg, cuda)
    return TrainingArguments(
        # The Trainer's own (non-atomic) saves go to staging; climb publishes complete ones to
        # <output>/checkpoints and rotates them (climb_trainer.AtomicCheckpoints).
        output_dir=str(Path(spec.output_dir) / "checkpoints" / STAGING),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        gradient_checkpointing=cfg.gradient_checkpointing and cfg.distributed != "fsdp",
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        use_cpu=not cuda,
        ddp_backend="nccl" if cuda else "gloo",
        ddp_find_unused_parameters=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
        use_liger_kernel=cfg.liger_kernel,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **_fsdp_args(cfg),
    )


def resume_point(root: Path, cfg: TrainConfig, is_main: bool) -> str | None:
    """Return the newest complete checkpoint to resume from (fetched from S3 if only there)."""
    from climb.train.checkpoints import discard_staging, download_latest, latest_checkpoint

    if is_main:
        discard_staging(root)
        if latest_checkpoint(root) is None and cfg.checkpoint_uri:
            download_latest(cfg.checkpoint_uri, root)
    _barrier()
    last = latest_checkpoint(root)
    return str(last) if last else None


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _checkpoint_step(path: str) -> int:
    return int(Path(path).name.rsplit("-", 1)[1])


def _finish_from_checkpoint(trainer: Any, checkpoint: str) -> float:
    """Load a final checkpoint's weights and state into `trainer`; return its mean loss."""
    from transformers import TrainerState

    from climb.train.checkpoints import load_weights

    load_weights(trainer.model, Path(checkpoint))
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return float(sum(losses) / len(losses)) if losses else float("nan")


def run_training(spec: TrainSpec) -> TrainResult | None:
    """Train as described by `spec`; rank 0 returns the result (others return None).

    Raises TrainingStopped when a signal stopped training (a checkpoint was saved first), and
    on rank 0 CheckpointUploadError when a background checkpoint upload to S3 failed.
    """
    import datasets
    import torch
    from transformers import AutoTokenizer, set_seed

    from climb.train.callbacks import (
        FailOnNonFiniteLoss,
        MlflowMetricsCallback,
        ProgressLines,
        ThroughputCallback,
    )
    from climb.train.climb_trainer import ClimbTrainer
    from climb.train.collate import data_collator
    from climb.train.uploads import BackgroundUploads

    cfg = spec.train_config
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(spec.model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_file = Path(spec.dataset_path) / "train.parquet"
    if not train_file.is_file():
        raise TrainError(f"prepared dataset {train_file} not found; run the data stage first")
    train_ds = datasets.Dataset.from_parquet(str(train_file), keep_in_memory=True)
    set_seed(cfg.seed)  # adapter initialisation is random: same seed, same candidate
    model = build_model(spec.model_path, cfg, cuda)
    args = training_arguments(spec, cfg, cuda)
    uploads = None  # rank 0 mirrors complete checkpoints to S3 in the background
    if cfg.checkpoint_uri and args.should_save:
        uploads = BackgroundUploads(cfg.checkpoint_uri, cfg.save_total_limit)
    throughput = ThroughputCallback(model, cfg.method)
    callbacks: list[Any] = [throughput, FailOnNonFiniteLoss(), ProgressLines()]
    if spec.mlflow_tracking_uri and spec.mlflow_run_id and args.process_index == 0:
        callbacks.append(MlflowMetricsCallback(spec.mlflow_tracking_uri, spec.mlflow_run_id))
    trainer = ClimbTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        data_collator=data_collator(tokenizer, cfg.packing, train_ds.column_names),
        callbacks=callbacks,
        keep=cfg.save_total_limit,
        uploads=uploads,
    )
    root = trainer.checkpoints.root
    last = resume_point(root, cfg, args.process_index == 0)
    if last:
        log.info("resuming from %s", last)
    start = time.perf_counter()
    try:
        if last and _checkpoint_step(last) >= cfg.max_steps:
            # Killed after the final checkpoint but before it finished: nothing left to train
            # (the Trainer would take one extra step); finish from that checkpoint.
            log.info("checkpoint %s already holds step %d; finishing from it", last, cfg.max_steps)
            training_loss = _finish_from_checkpoint(trainer, last)
        else:
            training_loss = float(trainer.train(resume_from_checkpoint=last).training_loss)
    except BaseException:
        if uploads is not None:
            uploads.close(raise_error=False)  # the upload in flight still completes
        raise
    seconds = time.perf_counter() - start
    if uploads is not None:
        uploads.close()  # the last upload is awaited; raises CheckpointUploadError if one failed
    if trainer.stopper.stopped_at is not None:
        raise TrainingStopped(
            f"stopped at step {trainer.stopper.stopped_at} on a signal; checkpoint "
            f"saved in {root}; rerun to resume"
        )
    if not trainer.is_world_process_zero():
        return None
    final = Path(spec.output_dir) / ("adapter" if cfg.method != "full" else "model")
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    (final / "training_args.bin").unlink(missing_ok=True)
    if cfg.merge_adapter and cfg.method != "full":
        merged = trainer.model.merge_and_unload()  # type: ignore[union-attr,operator]
        merged.save_pretrained(str(Path(spec.output_dir) / "merged"))
        tokenizer.save_pretrained(str(Path(spec.output_dir) / "merged"))
    tokens = int(trainer.state.num_input_tokens_seen)
    result = TrainResult(
        adapter_path=str(final),
        method=cfg.method,
        global_step=trainer.state.global_step,
        train_loss=training_loss,
        first_loss=throughput.losses[0] if throughput.losses else None,
        last_loss=throughput.losses[-1] if throughput.losses else None,
        tokens=tokens,
        tokens_per_s=throughput.tokens_per_s(tokens, seconds),
        train_seconds=seconds,
        resumed_from=last,
        world_size=args.world_size,
    )
    tmp = Path(spec.output_dir) / "result.json.tmp"
    tmp.write_text(json.dumps(result.__dict__, indent=2))
    os.replace(tmp, Path(spec.output_dir) / "result.json")
    return result
