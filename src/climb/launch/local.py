"""The local launcher: `torchrun --nproc-per-node N -m climb.train --spec SPEC` as a subprocess.

Logs stream through to the caller line by line (prefixed with the rank by the trainer); a
non-zero exit becomes a LaunchError carrying the tail of the log; a run past its deadline is
terminated (SIGTERM, then SIGKILL) so no orphan keeps the CPU or GPU.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from climb.config import LauncherConfig
from climb.secrets import redact
from climb.train.spec import TrainResult, TrainSpec


class LaunchError(RuntimeError):
    """Training failed or timed out; `tail` holds the last lines of its output and `resumable`
    says whether it stopped on request after saving a checkpoint (a rerun resumes from it)."""

    def __init__(
        self, message: str, tail: list[str] | None = None, resumable: bool = False
    ) -> None:
        super().__init__(message)
        self.tail = tail or []
        self.resumable = resumable


_RANK = re.compile(r"^\[(?:default)?(?:rank)?\d+\]:\s?")
# An exception line: a (dotted) class name, capitalised, then ": ", e.g. `ValueError: ...`,
# `botocore.errorfactory.NoSuchBucket: ...`; or the trainer's own `climb.train: ...` line.
_CAUSE = re.compile(
    r"^(climb\.train: |(?:[a-z_]\w*\.)+[A-Z]\w*: |[A-Z]\w*(?:Error|Exception|Interrupt|Exit): )"
)
# Exceptions that are consequences of another rank dying, never the reason.
_SECONDARY = ("ChildFailedError", "Connection closed by peer", "Connection reset by peer")


def _unprefixed(line: str) -> str:
    return _RANK.sub("", line, count=1)


def is_cause_line(line: str) -> bool:
    """True when a (rank-prefixed or plain) log line is an exception or trainer error line."""
    return bool(_CAUSE.match(_unprefixed(line)))


def root_cause(lines: list[str]) -> str | None:
    """Return the reason a training run failed, from its log lines, if one is there.

    The trainer's own `climb.train:` line wins (the last one); else the first exception a worker
    raised that is not a consequence of another rank dying (the one that started the failure);
    else the last exception line. The `[rankN]:` prefix torchrun adds is removed.
    """
    plain = [_unprefixed(line) for line in lines]
    own = [line for line in plain if line.startswith("climb.train: ")]
    if own:
        return own[-1]
    errors = [line for line in plain if _CAUSE.match(line)]
    primary = [line for line in errors if not any(s in line for s in _SECONDARY)]
    if primary:
        return primary[0]
    return errors[-1] if errors else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_command(spec_path: Path, nproc: int) -> list[str]:
    """Return the torchrun command line for a spec (standalone rendezvous on this host)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--nnodes=1",
        f"--master-port={_free_port()}",
        "--master-addr=127.0.0.1",
        "-m",
        "climb.train",
        "--spec",
        str(spec_path),
    ]


def _env(nproc: int) -> dict[str, str]:
    env = dict(os.environ)
    cpus = os.cpu_count() or 1
    env.setdefault("OMP_NUM_THREADS", str(max(1, cpus // nproc)))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::UserWarning")
    return env


def _stop(proc: subprocess.Popen[str], grace_s: float = 30.0) -> None:
    """Stop torchrun and every worker: SIGTERM to torchrun (it forwards it, and the trainer
    saves a checkpoint), then SIGKILL to whatever is left. torchrun starts each worker in a
    session of its own, so killing torchrun's process group alone would orphan them.
    """
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def launch_local(
    spec: TrainSpec,
    cfg: LauncherConfig,
    on_line: Callable[[str], None] = lambda line: print(line, flush=True),
) -> TrainResult:
    """Run training locally under torchrun; return the rank-0 result or raise LaunchError."""
    out = Path(spec.output_dir)
    spec_path = spec.write(out / "spec.json")
    (out / "result.json").unlink(missing_ok=True)
    cmd = torchrun_command(spec_path, cfg.nproc)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    causes: collections.deque[str] = collections.deque(maxlen=20)
    log_path = out / "train.log"
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(cfg.nproc),
        start_new_session=True,
        bufsize=1,
    )
    timed_out = threading.Event()

    def _on_deadline() -> None:
        timed_out.set()
        _stop(proc)

    watchdog = threading.Timer(cfg.timeout_s, _on_deadline)
    watchdog.daemon = True
    watchdog.start()
    try:
        assert proc.stdout is not None
        with log_path.open("a") as log_file:
            for line in proc.stdout:
                line = redact(line.rstrip("\n"))
                tail.append(line)
                if is_cause_line(line):
                    causes.append(line)
                log_file.write(line + "\n")
                log_file.flush()
                on_line(line)
        code = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        watchdog.cancel()
    if timed_out.is_set():
        raise LaunchError(
            f"training exceeded launcher.timeout_s={cfg.timeout_s} and was stopped", list(tail)
        )
    if code != 0 and (out / "result.json").is_file():
        # Rank 0 finished and wrote its result (atomically) in this attempt; the non-zero exit
        # came later (e.g. killed while shutting down). The model is complete: keep it.
        on_line(f"climb: torchrun exited {code} after training completed; using the result")
        return TrainResult.read(out)
    if code != 0:
        cause = root_cause(list(causes))
        if cause and "stopped at step" in cause:
            raise LaunchError(cause, [*causes, *tail], resumable=True)
        if cause:
            raise LaunchError(
                f"training failed: {cause} (torchrun exit code {code}; log: {log_path})",
                [*causes, *tail],
            )
        raise LaunchError(
            f"training failed (torchrun exit code {code}); log: {log_path}", list(tail)
        )
    if not (out / "result.json").is_file():
        raise LaunchError("training exited 0 but wrote no result.json", list(tail))
    return TrainResult.read(out)
