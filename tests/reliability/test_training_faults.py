"""Training killed under the flow, for real: SIGKILL (node loss) and SIGTERM (pod eviction) of
the torchrun process group in the middle of the fine-tune stage. The flow's retry resumes from
the newest complete checkpoint (a half-written one is never loaded) and the run ends at the
configured step. Starts: Prefect server, torchrun (2 processes).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
STEPS = 30


def _torchrun(state: Path):
    """The torchrun process training under `state`, or None."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "torch.distributed.run" in cmd and str(state) in cmd:
            return p
    return None


def _inject(state: Path, sig: signal.Signals, after_step: int, done: dict) -> None:
    """Once a checkpoint >= after_step exists: SIGKILL torchrun and every worker (node loss),
    or SIGTERM torchrun alone (pod eviction: the kubelet signals the container's main process,
    torchrun forwards it to the workers)."""
    import psutil

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ckpts = [
            int(p.name.split("-")[1]) for p in state.glob("runs/*/train/checkpoints/checkpoint-*")
        ]
        if ckpts and max(ckpts) >= after_step and (runner := _torchrun(state)) is not None:
            if sig == signal.SIGKILL:
                victims = [runner, *runner.children(recursive=True)]
                for p in victims:
                    p.kill()
                psutil.wait_procs(victims, timeout=30)
            else:
                runner.send_signal(sig)
            done["injected_after"] = max(ckpts)
            return
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_killed_training_is_resumed_by_the_flow_retry(
    sig: signal.Signals, prefect_api: str, tiny_experiment, tmp_path: Path
) -> None:
    from flows.pipeline import leaderboard_pipeline

    config = tiny_experiment(
        f"faults-{sig.name.lower()}",
        train={"max_steps": STEPS, "batch_size": 4, "grad_accum": 4, "save_steps": 5, "lr": 1e-2},
        launcher={"nproc": 2, "retries": 2, "retry_delay_s": 1},
        publish={"enabled": False, "repo_id": "org/x"},
    )
    state = tmp_path / "state"
    done: dict = {}
    watcher = threading.Thread(target=_inject, args=(state, sig, 10, done), daemon=True)
    watcher.start()
    summary = leaderboard_pipeline(str(config), [])
    watcher.join(5)
    assert done.get("injected_after", 0) >= 10, "the fault was never injected"
    cand = summary.candidate
    assert cand.global_step == STEPS
    assert cand.resumed_from, f"the retry did not resume from a checkpoint: {done}"
    resumed = int(Path(cand.resumed_from).name.split("-")[1])
    assert done["injected_after"] <= resumed < STEPS
    staging = list(state.glob("runs/*/train/checkpoints/.staging/*"))
    assert not staging, f"half-written checkpoints left behind: {staging}"
