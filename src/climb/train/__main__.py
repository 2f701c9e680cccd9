"""`python -m climb.train --spec SPEC.json`: the trainer process (one per device, torchrun)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys

from climb.train.callbacks import NonFiniteLossError
from climb.train.climb_trainer import STOPPED_EXIT_CODE
from climb.train.spec import TrainSpec
from climb.train.trainer import TrainError, TrainingStopped, run_training
from climb.train.uploads import CheckpointUploadError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run training, return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m climb.train")
    parser.add_argument("--spec", required=True, help="training spec JSON written by a launcher")
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO if rank == "0" else logging.WARNING,
        format=f"[rank{rank}] %(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # A file-size quota then fails the write (EFBIG) instead of killing the process silently.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        result = run_training(TrainSpec.read(args.spec))
    except (TrainError, NonFiniteLossError) as exc:
        print(f"climb.train: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise
        print(
            f"climb.train: out of disk space while writing ({exc}); the last complete "
            "checkpoint is kept and nothing half-written is loaded; free space and rerun to "
            "resume",
            file=sys.stderr,
        )
        return 3
    except CheckpointUploadError as exc:
        print(
            f"climb.train: {exc}; training stopped, the local checkpoints are "
            "complete; fix S3 access and rerun to resume",
            file=sys.stderr,
        )
        return 4
    except TrainingStopped as exc:
        print(f"climb.train: {exc}", file=sys.stderr)
        return STOPPED_EXIT_CODE
    if result is not None:
        print(
            f"climb.train: done, step {result.global_step}, loss {result.train_loss:.4f}, "
            f"{result.tokens_per_s:.0f} tokens/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
