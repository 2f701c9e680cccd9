"""The whole flow, end to end, on a tiny random model, under a real Prefect server (started by
climb's own server helper on a free port) with MLflow on SQLite in a temporary folder.

Run 1 meets an existing, worse champion: the candidate is promoted and published to the
outbox. Run 2 repeats the same config: training reproduces the same weights, the evaluation
comes from the cache, the candidate only ties the champion and is not promoted; publish is
skipped. Starts: Prefect server (subprocess), torchrun (2 processes, gloo).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from stage_helpers import plant_zero_champion

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def experiment(tmp_path: Path, tiny_model: Path, repo: Path) -> Path:
    """A config for the tiny model: 2 training steps on the demo data, limit 1 per task."""
    cfg = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    cfg["name"] = "e2e"
    cfg["state_dir"] = str(tmp_path / "state")
    cfg["model"] = {"base": str(tiny_model), "name": "tiny-random-llama"}
    cfg["data"]["sources"][0]["path"] = str(repo / "data" / "demo" / "instructions.jsonl")
    cfg["train"].update({"max_steps": 2, "batch_size": 2, "save_steps": 1000})
    cfg["eval"].update({"limit": 1, "batch_size": 4})
    cfg["tracking"] = {
        "experiment": "e2e",
        "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "system_metrics_interval_s": 1.0,
    }
    cfg["promotion"]["registered_model"] = "e2e-model"
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_flow_end_to_end_promotes_then_keeps(
    prefect_api: str, experiment: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    from flows.pipeline import leaderboard_pipeline

    cfg = yaml.safe_load(experiment.read_text())
    uri = cfg["tracking"]["uri"]
    weights = tmp_path / "old-weights"
    weights.mkdir()
    plant_zero_champion(uri, "e2e-model", weights.as_uri())

    first = leaderboard_pipeline(str(experiment), [])
    assert first["reference"]["kind"] == "champion" and first["reference"]["version"] == "1"
    assert first["decision"]["promote"] is True, first["decision"]
    assert first["promotion"] == {"registered_model": "e2e-model", "version": "2", "promoted": True}
    outbox = Path(first["publish"]["location"])
    assert first["publish"]["mode"] == "outbox"
    assert (outbox / "README.md").is_file() and (outbox / "adapter_model.safetensors").is_file()
    assert "model-index" in (outbox / "README.md").read_text()
    assert first["candidate"]["global_step"] == 2

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("e2e-model", "champion").version) == "2"
    mv = client.get_model_version("e2e-model", "2")
    assert float(mv.tags["climb.average"]) == pytest.approx(first["candidate_result"]["average"])
    assert mv.tags["climb.weights_digest"] == first["candidate"]["digest"]

    exp = client.get_experiment_by_name("e2e")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parent = client.get_run(first["mlflow_run_url"].rsplit("/", 1)[-1])
    children = {
        r.info.run_name: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) >= {
        "resolve_base_model",
        "prepare_data",
        "fine_tune",
        "evaluate_candidate",
        "promote",
        "publish",
    }
    assert all(r.info.status == "FINISHED" for r in children.values())
    tags = parent.data.tags
    for key in (
        "climb.config_hash",
        "climb.git_commit",
        "climb.dataset_digest",
        "climb.base_model",
        "climb.suite",
        "climb.lm_eval_version",
    ):
        assert tags.get(key), key
    assert parent.data.metrics["candidate/average"] == pytest.approx(
        first["candidate_result"]["average"]
    )
    assert "train.lr" in parent.data.params
    train_metrics = client.get_metric_history(children["fine_tune"].info.run_id, "loss")
    assert len(train_metrics) == 2
    assert "score/arc_challenge" in children["evaluate_candidate"].data.metrics
    # MLflow's system metrics sampled on the stage runs where the work happens.
    for stage in ("fine_tune", "evaluate_candidate"):
        assert "system/cpu_utilization_percentage" in children[stage].data.metrics, stage

    second = leaderboard_pipeline(str(experiment), [])
    assert second["candidate"]["digest"] == first["candidate"]["digest"]  # same weights
    assert second["candidate_result"]["cached"] is True
    assert second["reference"] == {
        "kind": "champion",
        "version": "2",
        "result": second["reference"]["result"],
    }
    assert second["decision"]["promote"] is False
    assert "does not beat" in second["decision"]["reasons"][0]
    assert second["promotion"]["promoted"] is False
    assert second["publish"]["mode"] == "skipped"
    assert str(client.get_model_version_by_alias("e2e-model", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("e2e-model", "challenger").version) == "3"

    async def states() -> list[StateType]:
        async with get_client() as pc:
            runs = await pc.read_flow_runs()
            return [r.state.type for r in runs if r.name and r.state]

    import asyncio

    flow_states = asyncio.run(states())
    assert flow_states.count(StateType.COMPLETED) >= 2
    assert first["prefect_flow_run_url"].startswith(prefect_api.removesuffix("/api"))
