"""climb's Trainer: the HF Trainer with atomic checkpoints (see checkpoints.py), S3 uploads off
the training loop (uploads.py) and a clean stop on SIGTERM (pod eviction), all through public
callbacks: no Trainer method is overridden.

The Trainer saves where `args.output_dir` points, file by file and on every rank; climb points
it at `<root>/.staging` (training_arguments does), and `AtomicCheckpoints.on_save`, which the
Trainer calls on every rank right after a save, moves the finished folder into `<root>` after a
barrier. The Trainer's own rotation is off (`save_total_limit=None`): climb rotates complete
checkpoints only. On a signal every rank agrees on the step to stop at, a complete checkpoint is
saved there, and the process exits with STOPPED_EXIT_CODE so the retry resumes from it.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from climb.train.checkpoints import STAGING, publish_checkpoint
from climb.train.uploads import BackgroundUploads

log = logging.getLogger(__name__)
STOPPED_EXIT_CODE = 75  # EX_TEMPFAIL: stopped on request, resumable


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def agree(*flags: bool) -> list[bool]:
    """Return each flag OR-ed over all ranks (one all-reduce; the flags as given when alone)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(flags)
    tensor = torch.tensor([1.0 if f else 0.0 for f in flags])
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in tensor.tolist()]


class AtomicCheckpoints(TrainerCallback):
    """Publishes each checkpoint the Trainer wrote into `<root>/.staging` as `<root>/checkpoint-N`
    once every rank has written its part (keeping the newest `keep`), then hands it to
    `uploads` (rank 0, background) when checkpoints are mirrored to S3."""

    def __init__(
        self, root: Path, keep: int | None = None, uploads: BackgroundUploads | None = None
    ) -> None:
        self.root = root
        self.keep = keep or 10**6
        self.uploads = uploads

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Barrier, publish (process 0), barrier: no rank waits for the network."""
        _barrier()  # every rank has written its files (model, optimizer, its RNG state)
        if args.should_save:
            if self.uploads is not None:
                self.uploads.drain()  # the previous upload ends before the rotation below
            if self.uploads is None or self.uploads.error is None:
                name = f"checkpoint-{state.global_step}"
                final = publish_checkpoint(self.root, name, keep=self.keep)
                log.info("checkpoint %s complete", final)
                if self.uploads is not None:
                    self.uploads.start(final)
        _barrier()


class StopOnSignal(TrainerCallback):
    """On SIGTERM/SIGINT: finish the current step, save a checkpoint on every rank, stop. When a
    background checkpoint upload has failed: stop without saving (the run then fails).

    Ranks may receive the signal at different steps, and only rank 0 uploads, so both flags are
    all-reduced (MAX) at each step end; all ranks stop at the same step and none waits in a
    collective forever.
    """

    def __init__(
        self,
        signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT),
        uploads: BackgroundUploads | None = None,
    ) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self.upload_failed = False
        self.uploads = uploads
        for sig in signals:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.warning("signal %d received: saving a checkpoint and stopping", signum)
        self.requested = True

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Turn an agreed stop request into save + stop at this step (upload failure: stop)."""
        failed_here = self.uploads is not None and self.uploads.failed()
        stop, failed = agree(self.requested, failed_here)
        if failed:
            control.should_save = False
            control.should_training_stop = True
            self.upload_failed = True
        elif stop:
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control


class ClimbTrainer(Trainer):
    """HF Trainer whose checkpoints appear only when complete, optionally mirrored to S3 in the
    background. `args.output_dir` must be `<root>/.staging`; complete checkpoints go to `<root>`
    (`self.checkpoints.root`). `uploads` is given on the process that saves (rank 0) only."""

    def __init__(
        self,
        *args: Any,
        keep: int | None = None,
        uploads: BackgroundUploads | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        staging = Path(str(self.args.output_dir))
        if staging.name != STAGING:
            raise ValueError(
                f"ClimbTrainer needs TrainingArguments.output_dir = <checkpoints>/{STAGING} "
                f"(got {staging}); build them with climb.train.trainer.training_arguments"
            )
        self.checkpoints = AtomicCheckpoints(staging.parent, keep, uploads)
        self.stopper = StopOnSignal(uploads=uploads)
        self.add_callback(self.stopper)
        self.add_callback(self.checkpoints)
