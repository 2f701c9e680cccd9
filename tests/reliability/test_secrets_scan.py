"""Fake but recognisable secrets (Hub token, AWS keys, MLflow/DB passwords) in the environment,
the whole pipeline run end to end (real MLflow server used with those credentials, the model
promoted and pushed to a local Hub server with the token), then every place climb writes is
scanned: captured logs and output, Prefect logs, artifacts and flow-run parameters, every MLflow
param/tag/metric name/artifact and registry tag, the run folders, the model card, the outbox
and every file the Hub received. The secrets appear nowhere.

Starts: mlflow server, Prefect server, local Hub HTTP server, torchrun.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from support import mlflow_server
from support.fake_hub import FakeHub
from support.stages import everything_mlflow_holds, plant_zero_champion

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
SECRETS = {
    "HF_TOKEN": "hf_climbSCANfakeTOKEN_5f4e3d2c1b",
    "AWS_ACCESS_KEY_ID": "AKIACLIMBSCANFAKE01",
    "AWS_SECRET_ACCESS_KEY": "climbScanFakeSecretAccessKey/0123456789",
    "MLFLOW_TRACKING_USERNAME": "climb-scan",
    "MLFLOW_TRACKING_PASSWORD": "climbScanFakeDbPassword-9876",
    "PGPASSWORD": "climbScanFakePgPassword-5432",
}
NEEDLES = [v for k, v in SECRETS.items() if k != "MLFLOW_TRACKING_USERNAME"]


async def _prefect_text() -> str:
    from prefect import get_client

    async with get_client() as client:
        logs = await client.read_logs()
        artifacts = await client.read_artifacts()
        runs = await client.read_flow_runs()
    parts = [log.message for log in logs]
    parts += [json.dumps(a.data, default=str) + str(a.description) for a in artifacts]
    parts += [json.dumps(r.parameters, default=str) for r in runs]
    return "\n".join(parts)


def _files_text(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_secrets_appear_nowhere(
    prefect_api: str,
    tiny_experiment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
    capfd,
) -> None:
    from huggingface_hub import constants

    from flows.pipeline import leaderboard_pipeline

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    hub = FakeHub(SECRETS["HF_TOKEN"])
    hub.start()
    url, server = mlflow_server.start(tmp_path / "mlflow")
    try:
        config = tiny_experiment(
            "secrets",
            tracking={"experiment": "secrets", "uri": url},
            publish={
                "enabled": True,
                "mode": "push",
                "repo_id": "org/secret-scan",
                "endpoint": hub.url,
            },
        )
        # A recorded champion that any candidate beats: the run promotes and pushes.
        plant_zero_champion(url, "secrets-model", "s3://climb-test/old-champion", config)
        summary = leaderboard_pipeline(str(config), [])
        assert summary.release.promoted is True, summary.decision
        assert summary.release.publish.pushed is True
        assert hub.seen_auth == {SECRETS["HF_TOKEN"]}  # the token was really used

        out, err = capfd.readouterr()
        places = {
            "captured logs": caplog.text,
            "stdout/stderr": out + err,
            "prefect": asyncio.run(_prefect_text()),
            "mlflow": everything_mlflow_holds(url, tmp_path / "artifacts-scan"),
            "state folder (runs, outbox, caches)": _files_text(tmp_path / "state").decode(
                "utf-8", "replace"
            ),
            "hub commits": b"\n".join(
                data
                for repo in hub.repos.values()
                for commit in repo.commits
                for data in commit.files.values()
            ).decode("utf-8", "replace"),
        }
        card = next(iter(hub.repos.values())).head.files["README.md"].decode()
        assert "model-index" in card
        for where, text in places.items():
            for needle in NEEDLES:
                assert needle not in text, f"secret {needle[:8]}... found in {where}"
    finally:
        mlflow_server.stop(server)
        hub.stop()
