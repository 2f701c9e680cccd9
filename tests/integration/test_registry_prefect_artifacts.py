"""The flow's visibility: each run gets a link artifact back to its MLflow run and a markdown
artifact with candidate vs reference per task and the decision, created by the real task
helpers in flows/tasks.py inside a flow run. Starts: a Prefect server (climb's own helper)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prefect_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from climb.servers import ensure_prefect_server, prefect_env, stop_prefect_server
    from climb.state import StateDir

    state = StateDir.at(tmp_path / "prefect-state")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    api, _ = ensure_prefect_server(state, port=_free_port(), timeout_s=180)
    monkeypatch.setenv("PREFECT_API_URL", api)
    monkeypatch.setenv("PREFECT_HOME", prefect_env(state)["PREFECT_HOME"])
    yield api
    stop_prefect_server(state)


def test_flow_run_links_to_mlflow_and_shows_the_decision(prefect_api: str) -> None:
    from prefect import flow, get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.runtime import flow_run

    from climb.pipeline import RunContext
    from flows.tasks import link_mlflow, report

    summary = {
        "name": "demo",
        "candidate_result": {"average": 45.0, "tasks": {"arc_challenge": {"score": 0.5}}},
        "reference": {
            "kind": "champion",
            "version": "3",
            "result": {"average": 40.0, "tasks": {"arc_challenge": {"score": 0.4}}},
        },
        "decision": {"promote": True, "reasons": ["average 45.00 beats champion 40.00"]},
        "promotion": {"registered_model": "climb-demo", "version": "4", "promoted": True},
        "publish": {"mode": "outbox", "message": "wrote the outbox"},
        "mlflow_run_url": "http://mlflow:5000/#/experiments/3/runs/abc123",
    }

    @flow(name="artifacts-check")
    def run() -> str:
        link_mlflow(RunContext("c.yaml", (), "/tmp", "http://mlflow:5000", "3", "abc123", "/tmp"))
        report(summary)
        return str(flow_run.id)

    run_id = run()

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
        return {str(a.key): str(a.data) for a in found}

    got = asyncio.run(artifacts())
    assert "(http://mlflow:5000/#/experiments/3/runs/abc123)" in got["mlflow-run"]
    assert "| arc_challenge | 40.00 | 50.00 | 10.00 |" in got["promotion-decision"]
    assert "- average 45.00 beats champion 40.00" in got["promotion-decision"]
    assert os.environ["PREFECT_API_URL"] == prefect_api
