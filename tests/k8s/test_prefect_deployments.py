"""prefect.yaml against a real Prefect server (prefect_test_harness starts one on 127.0.0.1):
the work pools are created from the repo's base job templates, `prefect deploy --all` (what
`make deploy` runs) registers every deployment, their parameters fit the flows' signatures and
schedules and pools are as written, and a parameter of the wrong type is rejected.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration]


def test_prefect_yaml_parameters_match_the_flow_signatures(repo: Path) -> None:
    from prefect.flows import load_flow_from_entrypoint

    doc = yaml.safe_load((repo / "prefect.yaml").read_text())
    names = {d["name"] for d in doc["deployments"]}
    assert names == {"leaderboard-nightly", "eval-only-gpu"}
    for dep in doc["deployments"]:
        flow = load_flow_from_entrypoint(str(repo / dep["entrypoint"]))
        params = inspect.signature(flow.fn).parameters
        assert set(dep["parameters"]) <= set(params), dep["name"]
        required = {n for n, p in params.items() if p.default is inspect.Parameter.empty}
        assert required - set(dep["parameters"]) == set() or dep["name"] == "eval-only-gpu"
        assert dep["enforce_parameter_schema"] is True
        assert dep["work_pool"]["name"] in ("climb-cpu", "climb-gpu")


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


async def _create_pools(repo: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        for pool in ("cpu", "gpu"):
            template = json.loads((repo / f"k8s/base/prefect/work-pool-{pool}.json").read_text())
            await client.create_work_pool(
                WorkPoolCreate(name=f"climb-{pool}", type="kubernetes", base_job_template=template)
            )


async def _deployments() -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {d.name: d for d in await client.read_deployments()}


async def _run(deployment_id: Any, parameters: dict[str, Any]) -> Any:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.create_flow_run_from_deployment(deployment_id, parameters=parameters)


def test_deploy_registers_everything_and_enforces_parameter_types(
    repo: Path, prefect_api: str
) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    asyncio.run(_create_pools(repo))
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{repo}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    deps = asyncio.run(_deployments())
    assert set(deps) == {"leaderboard-nightly", "eval-only-gpu"}
    nightly, gpu = deps["leaderboard-nightly"], deps["eval-only-gpu"]
    assert nightly.work_pool_name == "climb-cpu" and gpu.work_pool_name == "climb-gpu"
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.parameter_openapi_schema["properties"]["overrides"]["anyOf"][0]["type"] == (
        "array"
    )
    assert gpu.job_variables == {"gpu_count": 1}
    assert asyncio.run(_run(nightly.id, {"overrides": ["train.lr=1e-4"]})).id
    with pytest.raises(PrefectHTTPStatusError, match=r"409|422"):
        asyncio.run(_run(nightly.id, {"overrides": "train.lr=1e-4"}))
