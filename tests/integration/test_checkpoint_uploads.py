"""Checkpoint uploads to S3 run off the training loop: climb's Trainer (in this process, one rank)
on a tiny random Llama, uploading to the session's moto_server.

- An upload slowed down on purpose (every PutObject waits DELAY_S) does not delay training: the
  step after a save ends before that checkpoint's `COMPLETE` marker is even sent (with the
  upload on the save barrier, as before, it could only end after). Uploads do not overlap, each
  ends with its marker, and the last one is awaited.
- A failed background upload (no such bucket) stops training at the next step end without
  publishing a newer checkpoint, and is raised as CheckpointUploadError naming S3's reason.

Starts: moto_server (session fixture).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from support.models import tiny_llama

from climb.config import TrainConfig
from climb.train.checkpoints import MARKER, complete_checkpoints, remote_checkpoints
from climb.train.uploads import BackgroundUploads, CheckpointUploadError

pytestmark = pytest.mark.integration
DELAY_S = 0.5


@pytest.fixture
def s3(moto_server: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def keep_signal_handlers():
    """ClimbTrainer installs SIGTERM/SIGINT handlers; give pytest its own back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _trainer(tmp_path: Path, uploads: BackgroundUploads, max_steps: int) -> Any:
    """climb's Trainer (LoRA, CPU, checkpoints every 2 steps) on random token rows."""
    import datasets
    import torch
    from transformers import (
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    from climb.train.checkpoints import STAGING
    from climb.train.climb_trainer import ClimbTrainer
    from climb.train.trainer import build_model

    tiny_llama(0, vocab_size=128, hidden_size=32, intermediate_size=64).save_pretrained(
        tmp_path / "model"
    )
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    cfg = TrainConfig.model_validate({"method": "lora", "lora": lora})
    # What climb.train.trainer.training_arguments sets for checkpoints, in one process (its
    # gloo backend needs torchrun: tests/integration/test_train_distributed.py).
    args = TrainingArguments(
        output_dir=str(tmp_path / "train" / "checkpoints" / STAGING),
        max_steps=max_steps,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=2,
        save_total_limit=None,
        logging_steps=1000,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    ids = torch.randint(0, 128, (64, 16)).tolist()
    rows = {"input_ids": ids, "labels": ids, "attention_mask": [[1] * 16] * 64}

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ended: dict[int, float] = {}

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.ended[state.global_step] = time.monotonic()

    clock = StepClock()
    trainer = ClimbTrainer(
        model=build_model(str(tmp_path / "model"), cfg, cuda=False),
        args=args,
        train_dataset=datasets.Dataset.from_dict(rows),
        data_collator=default_data_collator,
        callbacks=[clock],
        uploads=uploads,
    )
    trainer.clock = clock
    return trainer


def test_slow_upload_does_not_block_training(
    tmp_path: Path, s3: Any, keep_signal_handlers: None
) -> None:
    s3.create_bucket(Bucket="climb-slow-uploads")
    sent: list[tuple[str, float]] = []

    def slow_put(request: Any, **kwargs: Any) -> None:
        time.sleep(DELAY_S)  # a slow network, on purpose
        sent.append((request.url.split("/run/", 1)[1], time.monotonic()))

    s3.meta.events.register("before-send.s3.PutObject", slow_put)
    uploads = BackgroundUploads("s3://climb-slow-uploads/run", s3=s3)
    trainer = _trainer(tmp_path, uploads, max_steps=6)
    trainer.train()
    uploads.close()  # the last upload is awaited

    marker = {key.split("/")[0]: t for key, t in sent if key.endswith(MARKER)}
    ended = trainer.clock.ended
    # The step after each save ended while that checkpoint was still being uploaded.
    assert ended[3] < marker["checkpoint-2"], (ended, marker)
    assert ended[5] < marker["checkpoint-4"], (ended, marker)
    # One upload at a time, each closed by its marker; all of them made it.
    names = [key.split("/")[0] for key, _ in sent]
    assert names == sorted(names, key=lambda n: int(n.split("-")[1]))
    for name in ("checkpoint-2", "checkpoint-4", "checkpoint-6"):
        mine = [key for key, _ in sent if key.startswith(name + "/")]
        assert mine[-1] == f"{name}/{MARKER}" and len(mine) > 3
    assert uploads.uploaded == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert remote_checkpoints("s3://climb-slow-uploads/run", s3) == uploads.uploaded
    local = complete_checkpoints(tmp_path / "train" / "checkpoints")
    assert [p.name for p in local] == uploads.uploaded


def test_failed_background_upload_stops_training_and_is_raised(
    tmp_path: Path, s3: Any, keep_signal_handlers: None
) -> None:
    uploads = BackgroundUploads("s3://climb-no-such-bucket/run", s3=s3)
    trainer = _trainer(tmp_path, uploads, max_steps=12)
    trainer.train()
    assert trainer.stopper.upload_failed
    assert trainer.state.global_step <= 5  # stopped soon after the failure, not at step 12
    local = complete_checkpoints(tmp_path / "train" / "checkpoints")
    assert [p.name for p in local] == ["checkpoint-2"]  # nothing newer published
    with pytest.raises(CheckpointUploadError, match=r"checkpoint-2 .* failed: .*NoSuchBucket"):
        uploads.close()
