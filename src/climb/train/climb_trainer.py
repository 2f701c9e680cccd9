"""climb's Trainer: the HF Trainer with atomic checkpoints (see checkpoints.py) and a clean stop
on SIGTERM (pod eviction): every rank agrees on the step to stop at, a complete checkpoint is
saved there, and the process exits with STOPPED_EXIT_CODE so the retry resumes from it.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from climb.train.checkpoints import STAGING, publish_checkpoint, upload_checkpoint

log = logging.getLogger(__name__)
STOPPED_EXIT_CODE = 75  # EX_TEMPFAIL: stopped on request, resumable


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class ClimbTrainer(Trainer):
    """HF Trainer whose checkpoints appear only when complete, optionally mirrored to S3."""

    def __init__(self, *args: Any, checkpoint_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoint_uri = checkpoint_uri

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        root = Path(str(self.args.output_dir))
        staging = str(root / STAGING)

        def to_staging(trial: Any = None) -> str:
            return staging

        # The parent writes wherever _get_output_dir points: send it to the staging area.
        self._get_output_dir = to_staging  # type: ignore[method-assign]
        try:
            super()._save_checkpoint(model, trial)
        finally:
            del self._get_output_dir
        _barrier()  # every rank has written its files (model, optimizer, its RNG state)
        if self.args.should_save:
            name = f"checkpoint-{self.state.global_step}"
            final = publish_checkpoint(root, name, keep=self.args.save_total_limit or 10**6)
            log.info("checkpoint %s complete", final)
            if self.checkpoint_uri:
                upload_checkpoint(final, self.checkpoint_uri, self.args.save_total_limit or 10**6)
        _barrier()


class StopOnSignal(TrainerCallback):
    """On SIGTERM/SIGINT: finish the current step, save a checkpoint on every rank, stop.

    Ranks may receive the signal at different steps, so the flag is all-reduced (MAX) at each
    step end; all ranks then stop at the same step and none waits in a collective forever.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        for sig in signals:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.warning("signal %d received: saving a checkpoint and stopping", signum)
        self.requested = True

    def _agreed(self) -> bool:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0])
        if dist.get_backend() == "nccl":
            flag = flag.cuda()
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Turn an agreed stop request into save + stop at this step."""
        if self._agreed():
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control
