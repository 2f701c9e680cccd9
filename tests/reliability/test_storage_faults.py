"""Storage failing under climb, for real, and evaluation crashing inside the flow.

- Disk quota hit while a checkpoint is being written (RLIMIT_FSIZE set on the running trainer
  processes with prlimit): the run fails with a clear "out of disk space" error, the previous
  complete checkpoint is intact, the half-written one is never loaded, the rerun resumes.
- S3 refusing checkpoints: with no bucket the run is refused before a step, naming S3's reason;
  with the bucket removed while the first checkpoint is saved, its background upload fails,
  training stops and the run fails naming S3's reason, the local checkpoint is intact, the rerun
  (bucket back) resumes and uploads.
- Disk quota hit while writing the prepared dataset: clear error, no half-written dataset,
  the previous prepared dataset intact, the rerun succeeds.
- Evaluation crashing (a corrupt benchmark file) or a task's metric missing from lm-eval's
  output: the flow fails, the reason is recorded on the MLflow run, nothing is registered,
  promoted or published. (NaN scores are refused by the same check: tests/unit/.)

Starts: torchrun, moto_server, the `climb` CLI, Prefect server.
"""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from climb.config import LauncherConfig, TrainConfig
from climb.launch.local import LaunchError, launch_local
from climb.train.checkpoints import STAGING, complete_checkpoints, remote_checkpoints
from climb.train.spec import TrainSpec

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, tiny_model: Path) -> Path:
    from climb.config import DataConfig
    from climb.data.prepare import prepare_data
    from climb.state import StateDir

    cfg = DataConfig.model_validate(
        {
            "sources": [{"path": str(REPO / "data/demo/instructions.jsonl")}],
            "max_examples": 64,
            "decontamination": {"enabled": False},
        }
    )
    return Path(prepare_data(cfg, tiny_model, StateDir.at(tmp_path_factory.mktemp("d"))).path)


def _spec(tiny_model: Path, dataset: Path, out: Path, **train: object) -> TrainSpec:
    cfg = TrainConfig.model_validate(
        {
            "method": "lora",
            "lr": 1e-2,
            "max_steps": 15,
            "batch_size": 4,
            "grad_accum": 2,
            "save_steps": 5,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            **train,
        }
    )
    return TrainSpec(
        model_path=str(tiny_model),
        dataset_path=str(dataset),
        output_dir=str(out),
        train=cfg.model_dump(mode="json"),
    )


def _workers(output_dir: Path) -> list:
    import psutil

    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "climb.train" in " ".join(p.info["cmdline"] or [])
        and str(output_dir) in " ".join(p.info["cmdline"] or [])
        and "torch.distributed.run" not in " ".join(p.info["cmdline"] or [])
    ]


def test_disk_quota_during_checkpoint(tmp_path: Path, tiny_model: Path, dataset: Path) -> None:
    spec = _spec(tiny_model, dataset, tmp_path)
    root = tmp_path / "checkpoints"
    limited: list[int] = []

    def fill_the_disk() -> None:
        deadline = time.monotonic() + 600
        while not complete_checkpoints(root) and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in _workers(tmp_path):
            resource.prlimit(p.pid, resource.RLIMIT_FSIZE, (4096, 4096))
            limited.append(p.pid)

    threading.Thread(target=fill_the_disk, daemon=True).start()
    with pytest.raises(LaunchError) as err:
        launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=lambda line: None)
    assert limited, "the quota was never applied"
    assert "out of disk space" in str(err.value), str(err.value)
    kept = complete_checkpoints(root)
    assert [p.name for p in kept] == ["checkpoint-5"]
    assert (kept[0] / "trainer_state.json").is_file()
    assert any((root / STAGING).iterdir()), "the failed save should have left staging debris"

    result = launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=print)
    assert result.resumed_from == str(kept[0])
    assert result.global_step == 15
    assert not (root / STAGING).exists() or not any((root / STAGING).iterdir())


def test_s3_refusing_checkpoints(
    tmp_path: Path,
    tiny_model: Path,
    dataset: Path,
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", moto_server),
    ):
        monkeypatch.setenv(key, value)
    uri = "s3://climb-ckpt-fault/run1"
    s3 = boto3.client("s3", endpoint_url=moto_server)
    spec = _spec(tiny_model, dataset, tmp_path, checkpoint_uri=uri, max_steps=10)

    # No bucket at all: refused before a single step is spent, naming S3's reason.
    with pytest.raises(LaunchError) as err:
        launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=lambda line: None)
    assert "NoSuchBucket" in str(err.value), str(err.value)
    assert complete_checkpoints(tmp_path / "checkpoints") == []

    # The bucket goes away mid-run, while the first checkpoint is being written: its background
    # upload fails with S3's reason, training stops, and the local checkpoint is intact.
    s3.create_bucket(Bucket="climb-ckpt-fault")
    # The Trainer writes checkpoint-N into staging first (its staging folder exists from the start).
    staging = tmp_path / "checkpoints" / STAGING / "checkpoint-5"
    removed = threading.Event()

    def remove_bucket_when_saving() -> None:
        deadline = time.monotonic() + 600
        while not staging.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        s3.delete_bucket(Bucket="climb-ckpt-fault")
        removed.set()

    threading.Thread(target=remove_bucket_when_saving, daemon=True).start()
    with pytest.raises(LaunchError) as err:
        launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=lambda line: None)
    assert removed.is_set()
    assert "NoSuchBucket" in str(err.value), str(err.value)
    assert "uploading checkpoint-5" in str(err.value), str(err.value)
    local = complete_checkpoints(tmp_path / "checkpoints")
    assert [p.name for p in local] == ["checkpoint-5"]

    s3.create_bucket(Bucket="climb-ckpt-fault")
    result = launch_local(spec, LauncherConfig(nproc=2, timeout_s=600), on_line=print)
    assert result.resumed_from == str(local[0]) and result.global_step == 10
    assert (
        remote_checkpoints(uri) == ["checkpoint-10"]
        or remote_checkpoints(uri)[-1] == "checkpoint-10"
    )


def _quota(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process

    return apply


def test_disk_quota_while_writing_data(tmp_path: Path, tiny_experiment) -> None:
    config = tiny_experiment("data-quota", data={"max_examples": 40})
    climb = [sys.executable, "-m", "flows.cli", "data", "prepare", str(config)]
    first = subprocess.run(climb, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    datasets = tmp_path / "state" / "datasets"
    before = sorted(p.name for p in datasets.iterdir() if (p / "manifest.json").is_file())
    assert len(before) == 1

    full = subprocess.run(
        [*climb, "data.max_examples=80"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_quota(8 * 1024),  # the 80-row Parquet file is ~12 KiB
    )
    assert full.returncode == 1, full.stdout + full.stderr
    assert "could not write the prepared dataset" in full.stderr
    assert "Traceback" not in full.stderr
    after = sorted(p.name for p in datasets.iterdir() if not p.name.startswith("."))
    assert after == before, "a half-written dataset was left behind"
    assert not [p for p in datasets.iterdir() if p.name.startswith(".")], "temp debris left"

    again = subprocess.run(
        [*climb, "data.max_examples=80"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr


def _corrupt_benchmark_file(tmp_path: Path) -> tuple[dict, list[str]]:
    """A mirror whose ARC file ends in a cut-off JSON line: lm-eval crashes reading it."""
    from climb.resources import smoke_benchmarks_dir

    mirror = tmp_path / "mirror"
    shutil.copytree(smoke_benchmarks_dir(), mirror)
    broken = mirror / "arc_challenge" / "arc_challenge_test.hf.jsonl"
    broken.write_text(broken.read_text()[:-40] + '\n{"id": "cut')
    return {"data_dir": str(mirror)}, ["arc_challenge_test.hf.jsonl"]


def _metric_missing_from_output(tmp_path: Path) -> tuple[dict, list[str]]:
    """lm-eval runs fine, but the suite's metric for one task is not in its output (as when a
    task version renames a metric)."""
    from climb.evaluate.suites import suites_dir

    suite = yaml.safe_load((suites_dir() / "open-llm-v1.yaml").read_text())
    for task in suite["tasks"]:
        if task["name"] == "truthfulqa_mc2":
            task["metric"] = "mc2_renamed"
    path = tmp_path / "renamed-metric.yaml"
    path.write_text(yaml.safe_dump(suite))
    return {"suite": str(path)}, ["mc2_renamed", "truthfulqa_mc2"]


EVAL_FAULTS = {"corrupt": _corrupt_benchmark_file, "missing-metric": _metric_missing_from_output}


@pytest.mark.parametrize("fault", sorted(EVAL_FAULTS))
def test_evaluation_failure_promotes_nothing(
    prefect_api: str, tiny_experiment, tmp_path: Path, fault: str
) -> None:
    """The flow fails naming the reason, which is recorded on the MLflow run; nothing is
    registered, promoted or published."""
    from mlflow.tracking import MlflowClient

    from flows.pipeline import leaderboard_pipeline

    eval_cfg, reasons = EVAL_FAULTS[fault](tmp_path)
    config = tiny_experiment(
        f"eval-{fault}", eval=eval_cfg, publish={"enabled": True, "repo_id": "org/never"}
    )
    cfg = yaml.safe_load(config.read_text())
    with pytest.raises(Exception) as err:
        leaderboard_pipeline(str(config), [])
    assert all(r in str(err.value) for r in reasons), str(err.value)
    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"], registry_uri=cfg["tracking"]["uri"])
    exp = client.get_experiment_by_name(cfg["tracking"]["experiment"])
    parents = [
        r
        for r in client.search_runs([exp.experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    assert parents and parents[0].info.status == "FAILED"
    assert reasons[0] in parents[0].data.tags["climb.error"]
    assert client.search_registered_models() == []
    assert not list((tmp_path / "state").glob("outbox/**/*"))
