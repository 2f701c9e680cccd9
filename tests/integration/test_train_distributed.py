"""The trainer under real torchrun (2 processes, DDP over gloo on CPU) on a tiny random Llama:
the loss falls; a run killed with SIGKILL resumes from its last complete checkpoint and ends at
the same step with the same loss as an uninterrupted run; SIGTERM (pod eviction) saves a
checkpoint at the step it arrives and the rerun finishes from there. Starts: torchrun.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from climb.config import LauncherConfig, TrainConfig
from climb.launch.local import LaunchError, launch_local, torchrun_command
from climb.train.checkpoints import STAGING, complete_checkpoints
from climb.train.spec import TrainSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STEPS = 30


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, tiny_model: Path) -> Path:
    """The demo data tokenised for the tiny model (SmolLM2's tokenizer)."""
    from climb.config import DataConfig, SourceConfig
    from climb.data.prepare import prepare_data
    from climb.state import StateDir

    repo = Path(__file__).resolve().parents[2]
    cfg = DataConfig(
        sources=[SourceConfig(path=str(repo / "data/demo/instructions.jsonl"))], max_examples=64
    )
    state = StateDir.at(tmp_path_factory.mktemp("data-state"))
    return Path(prepare_data(cfg, tiny_model, state).path)


def _spec(tiny_model: Path, dataset: Path, out: Path, **train: object) -> TrainSpec:
    values: dict[str, object] = {
        "method": "lora",
        "lr": 1e-2,
        "max_steps": STEPS,
        "batch_size": 4,
        "grad_accum": 4,
        "save_steps": 5,
        "save_total_limit": 2,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    }
    cfg = TrainConfig.model_validate({**values, **train})
    return TrainSpec(
        model_path=str(tiny_model),
        dataset_path=str(dataset),
        output_dir=str(out),
        train=cfg.model_dump(mode="json"),
    )


def _launch(spec: TrainSpec, lines: list[str] | None = None):
    sink = lines if lines is not None else []
    return launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=sink.append)


def _start_background(spec: TrainSpec) -> subprocess.Popen:
    out = Path(spec.output_dir)
    spec_path = spec.write(out / "spec.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        torchrun_command(spec_path, 2),
        start_new_session=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_everything(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and all its workers at once, as when a node or pod is lost (torchrun
    starts each worker in a session of its own, so its process group alone is not enough)."""
    import psutil

    procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in procs:
        p.kill()
    psutil.wait_procs(procs, timeout=30)
    proc.wait()


def _wait_for_checkpoint(root: Path, step: int, proc: subprocess.Popen, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = [int(p.name.split("-")[1]) for p in complete_checkpoints(root)]
        if steps and max(steps) >= step:
            return max(steps)
        assert proc.poll() is None, "training ended before the checkpoint appeared"
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint >= {step} within {timeout}s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model: Path, dataset: Path):
    """An uninterrupted 2-process run: the numbers the interrupted runs must reproduce."""
    out = tmp_path_factory.mktemp("uninterrupted")
    lines: list[str] = []
    result = _launch(_spec(tiny_model, dataset, out), lines)
    return result, lines


def test_ddp_two_processes_loss_falls(reference) -> None:
    result, lines = reference
    assert result.world_size == 2
    assert result.global_step == STEPS
    losses = [
        json.loads(line.split("]", 1)[-1].strip().replace("'", '"'))["loss"]
        for line in lines
        if "'loss'" in line and "train_loss" not in line
    ]
    losses = [float(v) for v in losses]
    assert len(losses) == STEPS
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.05, losses
    assert result.resumed_from is None
    assert result.tokens > 0 and result.tokens_per_s > 0


def test_sigkill_resumes_from_last_complete_checkpoint(
    reference, tmp_path: Path, tiny_model: Path, dataset: Path
) -> None:
    ref, _ = reference
    spec = _spec(tiny_model, dataset, tmp_path)
    ckpt_root = tmp_path / "checkpoints"
    proc = _start_background(spec)
    try:
        reached = _wait_for_checkpoint(ckpt_root, 10, proc)
    finally:
        _kill_everything(proc)
    # A half-written checkpoint from the killed run, if any, is only in .staging; plant one more
    # to prove the restart never trusts it.
    junk = ckpt_root / STAGING / "checkpoint-29"
    junk.mkdir(parents=True, exist_ok=True)
    (junk / "trainer_state.json").write_text("{ truncated")
    assert not (tmp_path / "result.json").exists()

    result = _launch(spec)
    assert result.resumed_from is not None
    resumed_step = int(Path(result.resumed_from).name.split("-")[1])
    assert resumed_step >= reached >= 10
    assert resumed_step < STEPS
    assert result.global_step == ref.global_step == STEPS
    assert result.last_loss == pytest.approx(ref.last_loss, rel=1e-3, abs=1e-3)
    assert result.train_loss == pytest.approx(ref.train_loss, rel=1e-2)
    assert not (ckpt_root / STAGING).exists() or not any((ckpt_root / STAGING).iterdir())
    assert len(complete_checkpoints(ckpt_root)) <= 2  # save_total_limit


def test_sigterm_saves_at_the_current_step_then_resumes(
    reference, tmp_path: Path, tiny_model: Path, dataset: Path
) -> None:
    ref, _ = reference
    spec = _spec(tiny_model, dataset, tmp_path, save_steps=1000)  # no periodic checkpoints
    proc = _start_background(spec)
    ckpt_root = tmp_path / "checkpoints"
    log = tmp_path / "train.log"
    deadline = time.monotonic() + 300
    # Wait until training has started (the trainer creates its output folder when it runs).
    while not ckpt_root.exists() and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=120)
    assert code != 0, "a stopped run must not look finished"
    assert not (tmp_path / "result.json").exists()
    saved = complete_checkpoints(ckpt_root)
    assert saved, "SIGTERM must leave a complete checkpoint"
    stopped_at = int(saved[-1].name.split("-")[1])
    assert 1 <= stopped_at < STEPS

    result = _launch(spec)
    assert result.resumed_from == str(saved[-1])
    assert result.global_step == STEPS
    assert result.last_loss == pytest.approx(ref.last_loss, rel=1e-3, abs=1e-3)
    assert not log.exists() or "Traceback" not in log.read_text()


def test_failure_propagates_with_log_tail(tmp_path: Path, tiny_model: Path) -> None:
    spec = TrainSpec(
        model_path=str(tiny_model),
        dataset_path=str(tmp_path / "missing"),
        output_dir=str(tmp_path / "out"),
        train=TrainConfig().model_dump(),
    )
    with pytest.raises(LaunchError) as err:
        _launch(spec)
    assert "prepared dataset" in str(err.value) and "run the data stage first" in str(err.value)
    assert "exit code" in str(err.value)
    assert not err.value.resumable


def test_rerun_after_the_final_checkpoint_takes_no_extra_step(
    tmp_path: Path, tiny_model: Path, dataset: Path
) -> None:
    """A run killed after its last checkpoint but before it exited is finished, not extended."""
    spec = _spec(tiny_model, dataset, tmp_path, max_steps=10)
    first = _launch(spec)
    assert first.global_step == 10
    (tmp_path / "result.json").unlink()  # as if killed before reporting
    again = _launch(spec)
    assert again.global_step == 10
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-10")
    assert again.train_loss == pytest.approx(first.train_loss, rel=1e-2)
