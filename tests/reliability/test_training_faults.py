"""Training killed under the flow, for real: SIGKILL (node loss) and SIGTERM (pod eviction) of
the torchrun process group in the middle of the fine-tune stage. The flow's retry resumes from
the newest complete checkpoint (a half-written one is never loaded) and the run ends at the
configured step. Starts: Prefect server, torchrun (2 processes).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
STEPS = 30


def _torchrun_pgid(state: Path) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "torch.distributed.run" in cmd and str(state) in cmd:
            return os.getpgid(int(proc.name))
    return None


def _killer(state: Path, sig: signal.Signals, after_step: int, done: dict) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ckpts = [
            int(p.name.split("-")[1]) for p in state.glob("runs/*/train/checkpoints/checkpoint-*")
        ]
        if ckpts and max(ckpts) >= after_step:
            pgid = _torchrun_pgid(state)
            if pgid:
                os.killpg(pgid, sig)
                done["killed_after"] = max(ckpts)
                return
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_killed_training_is_resumed_by_the_flow_retry(
    sig: signal.Signals, prefect_api: str, tiny_experiment, tmp_path: Path
) -> None:
    from flows.pipeline import leaderboard_pipeline

    config = tiny_experiment(
        f"faults-{sig.name.lower()}",
        train={"max_steps": STEPS, "batch_size": 8, "grad_accum": 8, "save_steps": 5, "lr": 1e-2},
        launcher={"nproc": 2, "retries": 2, "retry_delay_s": 1},
        publish={"enabled": False, "repo_id": "org/x"},
    )
    state = tmp_path / "state"
    done: dict = {}
    watcher = threading.Thread(target=_killer, args=(state, sig, 10, done), daemon=True)
    watcher.start()
    summary = leaderboard_pipeline(str(config), [])
    watcher.join(5)
    assert done.get("killed_after", 0) >= 10, "the fault was never injected"
    cand = summary["candidate"]
    assert cand["global_step"] == STEPS
    assert cand["resumed_from"], f"the retry did not resume from a checkpoint: {done}"
    resumed = int(Path(cand["resumed_from"]).name.split("-")[1])
    assert done["killed_after"] <= resumed < STEPS
    if sig == signal.SIGTERM:  # the evicted run saved at the step the signal arrived
        assert resumed % 5 != 0 or resumed >= done["killed_after"]
    staging = list(state.glob("runs/*/train/checkpoints/.staging/*"))
    assert not staging, f"half-written checkpoints left behind: {staging}"
