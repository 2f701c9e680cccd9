"""Evaluation on the eval deployment (the cluster's GPU pool), for real: the eval_only flow is
served by a Prefect runner in another process (as a worker on the GPU pool would run it), the
pipeline hands each evaluation to it with run_deployment and reads the result back from the
shared evaluation cache; no weights pass through Prefect. Starts: Prefect server, a Prefect
runner process, torchrun.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _flow_runs(name: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        return await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))


async def _deployment_ready(name: str) -> bool:
    from prefect import get_client

    async with get_client() as client:
        try:
            await client.read_deployment_by_name(name)
            return True
        except Exception:
            return False


@pytest.fixture
def served_eval(prefect_api: str, repo: Path):
    """The eval_only flow served under the deployment name eval_only/eval-only-test."""
    code = "from flows.eval_only import eval_only; eval_only.serve(name='eval-only-test')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=repo,
        env=dict(os.environ),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not asyncio.run(_deployment_ready("eval_only/eval-only-test")):
        assert proc.poll() is None, "the Prefect runner exited"
        assert time.monotonic() < deadline, "deployment never registered"
        time.sleep(1)
    yield "eval_only/eval-only-test"
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)


def test_pipeline_evaluates_on_the_eval_deployment(served_eval: str, tiny_experiment) -> None:
    from flows.pipeline import leaderboard_pipeline

    config = tiny_experiment(
        "remote-eval",
        eval={"runner": "deployment", "deployment": served_eval, "deployment_timeout_s": 900},
        publish={"enabled": False, "repo_id": "org/x"},
    )
    summary = leaderboard_pipeline(str(config), [])
    assert summary.reference_kind == "base" and summary.reference_result is not None
    runs = asyncio.run(_flow_runs("eval_only"))
    completed = [r for r in runs if r.state and r.state.is_completed()]
    assert len(completed) >= 2
    params = [r.parameters for r in completed]
    assert {p["role"] for p in params} >= {"candidate", "base"}
    assert any(p["weights_digest"] == summary.candidate.digest for p in params)
    # The served flow measured with the pipeline's config snapshot, not a re-read file.
    snapshot = next(p["config_yaml"] for p in params if p["role"] == "candidate")
    assert "remote-eval" in snapshot and "eval.runner=local" in params[0]["overrides"]
    # Both evaluations came back through the shared cache: the pipeline's stage runs read them.
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{config.parent / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    parent_id = summary.mlflow_run_url.rsplit("/", 1)[-1]
    stage_runs = [
        r
        for r in client.search_runs([client.get_experiment_by_name("remote-eval").experiment_id])
        if r.data.tags.get("mlflow.parentRunId") == parent_id
        and r.info.run_name in ("evaluate_candidate", "evaluate_reference")
    ]
    assert sorted(r.data.tags["climb.cached"] for r in stage_runs) == ["True", "True"]
