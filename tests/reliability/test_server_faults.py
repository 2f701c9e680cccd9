"""Servers going away during a run, for real.

- MLflow tracking server stopped during training and started again 15 s later (same port, same
  database): calls are retried with backoff and the run completes, fully recorded.
- MLflow stopped for good before promotion: the run fails with a clear error naming the server,
  and no registered version, alias or published model changes.
- Prefect server restarted during a flow run: the run ends Completed, with no task left in a
  Running state.

Starts: mlflow server, Prefect server, torchrun, the `climb run` CLI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import mlflow_server

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def _wait_for(predicate, timeout: float = 600, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every)


def _training_started(state: Path) -> bool:
    return any(state.glob("runs/*/train/train.log"))


def test_mlflow_outage_during_training_is_ridden_out(
    prefect_api: str, tiny_experiment, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from flows.pipeline import leaderboard_pipeline

    url, server = mlflow_server.start(tmp_path / "mlflow")
    port = int(url.rsplit(":", 1)[1])
    config = tiny_experiment(
        "mlflow-outage",
        train={"max_steps": 12, "batch_size": 4, "grad_accum": 2},
        tracking={
            "experiment": "outage",
            "uri": url,
            "http_retries": 8,
            "http_backoff_factor": 1,
            "http_timeout_s": 20,
        },
        publish={"enabled": False, "repo_id": "org/x"},
    )
    state = tmp_path / "state"
    events: dict = {}

    def outage() -> None:
        nonlocal server
        _wait_for(lambda: _training_started(state))
        mlflow_server.stop(server)
        events["down"] = time.monotonic()
        time.sleep(15)
        _, server = mlflow_server.start(tmp_path / "mlflow", port=port)
        events["up"] = time.monotonic()

    injector = threading.Thread(target=outage, daemon=True)
    injector.start()
    try:
        summary = leaderboard_pipeline(str(config), [])
        injector.join(120)
        assert "down" in events and "up" in events, events
        assert summary.candidate.global_step == 12
        client = MlflowClient(tracking_uri=url)
        run_id = summary.mlflow_run_url.rsplit("/", 1)[-1]
        assert client.get_run(run_id).info.status == "FINISHED"
        train = client.search_runs(
            [client.get_run(run_id).info.experiment_id],
            filter_string="attributes.run_name = 'fine_tune'",
        )
        losses = client.get_metric_history(train[0].info.run_id, "loss")
        assert len(losses) == 12, "metrics logged during the outage were lost"
    finally:
        mlflow_server.stop(server)


def test_mlflow_down_for_good_fails_clearly_and_changes_nothing(
    prefect_api: str, tiny_experiment, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from climb.registry.tracking import client_for
    from climb.registry.versions import register_version
    from flows.pipeline import leaderboard_pipeline

    url, server = mlflow_server.start(tmp_path / "mlflow")
    port = int(url.rsplit(":", 1)[1])
    client = client_for(url)
    # A remote source: the server refuses to register a bare local path without a run.
    version = register_version(
        client, "down-model", "s3://climb-test/old-champion", None, {"climb.average": "0.0"}
    )
    client.set_registered_model_alias("down-model", "champion", version)
    config = tiny_experiment(
        "mlflow-down",
        tracking={
            "experiment": "down",
            "uri": url,
            "http_retries": 2,
            "http_backoff_factor": 1,
            "http_timeout_s": 5,
        },
        promotion={"registered_model": "down-model"},
        publish={"enabled": True, "repo_id": "org/down"},
    )
    state = tmp_path / "state"

    def stop_after_training() -> None:
        _wait_for(lambda: any(state.glob("runs/*/train/result.json")))
        mlflow_server.stop(server)

    threading.Thread(target=stop_after_training, daemon=True).start()
    with pytest.raises(Exception) as err:
        leaderboard_pipeline(str(config), [])
    text = f"{type(err.value).__name__}: {err.value}"
    assert f"127.0.0.1:{port}" in text or "Connection" in text, text
    # Back up, nothing moved: one version, the same champion, nothing published.
    _, server = mlflow_server.start(tmp_path / "mlflow", port=port)
    try:
        after = MlflowClient(tracking_uri=url, registry_uri=url)
        versions = after.search_model_versions("name = 'down-model'")
        assert [str(v.version) for v in versions] == [str(version)]
        assert str(after.get_model_version_by_alias("down-model", "champion").version) == str(
            version
        )
        assert not list(state.glob("outbox/**/README.md"))
    finally:
        mlflow_server.stop(server)


def test_prefect_server_restart_mid_run_leaves_no_ghost_running(
    tiny_experiment, tmp_path: Path, repo: Path
) -> None:
    from prefect.client.schemas.objects import StateType

    from climb.servers import ensure_prefect_server, prefect_env, stop_prefect_server
    from climb.state import StateDir

    prefect_state = StateDir.at(tmp_path / "prefect")
    port = mlflow_server.free_port()
    env_backup = {k: os.environ.pop(k, None) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
    try:
        api, _ = ensure_prefect_server(prefect_state, port=port, timeout_s=180)
        config = tiny_experiment(
            "prefect-restart",
            train={"max_steps": 12, "batch_size": 4, "grad_accum": 2},
            publish={"enabled": False, "repo_id": "org/x"},
        )
        env = {
            **os.environ,
            **prefect_env(prefect_state),
            "PREFECT_API_URL": api,
            "PREFECT_CLIENT_MAX_RETRIES": "10",
            "PREFECT_CLIENT_RETRY_JITTER_FACTOR": "0.2",
        }
        run = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", str(config)],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        state = tmp_path / "state"
        _wait_for(lambda: _training_started(state) or run.poll() is not None)
        assert run.poll() is None, run.stdout.read() if run.stdout else ""
        stop_prefect_server(prefect_state)
        time.sleep(5)
        api2, started = ensure_prefect_server(prefect_state, port=port, timeout_s=180)
        assert started and api2 == api
        out, _ = run.communicate(timeout=900)
        assert run.returncode == 0, out[-3000:]

        async def states() -> tuple[list, list]:
            from prefect import get_client
            from prefect.settings import PREFECT_API_URL, temporary_settings

            # Settings are read once at import; the env var alone would not reach the client.
            with temporary_settings({PREFECT_API_URL: api}):
                async with get_client() as pc:
                    return await pc.read_flow_runs(), await pc.read_task_runs()

        flows, tasks = asyncio.run(states())
        summary = [(f.name, f.state.type, f.state.message) for f in flows] + [
            (t.name, t.state.type, t.state.message) for t in tasks
        ]
        assert [f.state.type for f in flows] == [StateType.COMPLETED], (summary, out[-3000:])
        assert tasks and all(t.state.type != StateType.RUNNING for t in tasks)
        assert {t.name.rsplit("-", 1)[0] for t in tasks if t.state.type == StateType.COMPLETED} >= {
            "fine_tune",
            "evaluate_candidate",
            "promote",
        }
    finally:
        stop_prefect_server(prefect_state)
        for k, v in env_backup.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
