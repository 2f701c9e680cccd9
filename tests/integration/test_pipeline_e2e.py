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
from support.stages import plant_zero_champion

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def experiment(tiny_experiment) -> Path:
    """The tiny experiment of conftest (2 training steps on the demo data, 2 documents a task),
    named e2e, with system metrics sampled every second."""
    return tiny_experiment("e2e", tracking={"system_metrics_interval_s": 1.0})


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
    plant_zero_champion(uri, "e2e-model", weights.as_uri(), experiment)

    first = leaderboard_pipeline(str(experiment), [])
    assert first.reference_kind == "champion" and first.reference_version == "1"
    assert first.reference_result is not None and first.reference_result.average == 0.0
    assert first.decision.promote is True, first.decision
    assert (first.release.registered_model, first.release.version) == ("e2e-model", "2")
    assert first.release.promoted is True
    outbox = Path(first.release.publish.location)
    assert first.release.publish.mode == "outbox"
    assert (outbox / "README.md").is_file() and (outbox / "adapter_model.safetensors").is_file()
    assert "model-index" in (outbox / "README.md").read_text()
    assert first.candidate.global_step == 2

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("e2e-model", "champion").version) == "2"
    mv = client.get_model_version("e2e-model", "2")
    assert float(mv.tags["climb.average"]) == pytest.approx(first.candidate_result.average)
    assert mv.tags["climb.weights_digest"] == first.candidate.digest
    assert mv.tags["climb.dataset_digest"] == first.data.digest

    exp = client.get_experiment_by_name("e2e")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parent = client.get_run(first.mlflow_run_url.rsplit("/", 1)[-1])
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
        "evaluate_reference",
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
    assert parent.data.metrics["candidate/average"] == pytest.approx(first.candidate_result.average)
    assert "train.lr" in parent.data.params
    train_metrics = client.get_metric_history(children["fine_tune"].info.run_id, "loss")
    assert len(train_metrics) == 2
    eval_metrics = children["evaluate_candidate"].data.metrics
    assert "score/arc_challenge" in eval_metrics  # no stderr at limit 1 (one document)
    assert eval_metrics["documents"] == first.candidate_result.documents_scored
    assert children["evaluate_reference"].data.tags["climb.role"] == "champion"
    assert children["evaluate_reference"].data.tags["climb.cached"] == "True"  # planted
    # MLflow's system metrics sampled on the stage runs where the work happens.
    for stage in ("fine_tune", "evaluate_candidate"):
        assert "system/cpu_utilization_percentage" in children[stage].data.metrics, stage

    second = leaderboard_pipeline(str(experiment), [])
    assert second.candidate.digest == first.candidate.digest  # same weights
    assert (second.reference_kind, second.reference_version) == ("champion", "2")
    assert second.reference_result == first.candidate_result  # from the cache, by digest
    assert second.timings.evaluate_reference == 0.0
    assert second.decision.promote is False
    assert second.decision.outcome == "not_better"
    assert "+0.00 [+0.00, +0.00]" in second.decision.reasons[0]  # same weights: no gain
    assert second.release.promoted is False
    assert second.release.publish.mode == "skipped"
    runs = client.search_runs([exp.experiment_id], max_results=100)
    second_evals = [
        r
        for r in runs
        if r.info.run_name == "evaluate_candidate"
        and r.data.tags.get("mlflow.parentRunId") == second.mlflow_run_url.rsplit("/", 1)[-1]
    ]
    assert [r.data.tags["climb.cached"] for r in second_evals] == ["True"]
    assert str(client.get_model_version_by_alias("e2e-model", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("e2e-model", "challenger").version) == "3"

    async def states() -> list[StateType]:
        async with get_client() as pc:
            runs = await pc.read_flow_runs()
            return [r.state.type for r in runs if r.name and r.state]

    import asyncio

    flow_states = asyncio.run(states())
    assert flow_states.count(StateType.COMPLETED) >= 2
    assert (first.prefect_flow_run_url or "").startswith(prefect_api.removesuffix("/api"))


def test_a_run_keeps_its_config_and_a_scale_1_suite_reports_on_scale_1(
    prefect_api: str, experiment: Path, tmp_path: Path, repo: Path
) -> None:
    """The YAML is edited while the run trains: the run finishes with the config it validated
    at start. Its suite has `scale: 1`: the average, the MLflow metrics, the version tags, the
    decision and the model card are all on that scale."""
    import json
    import threading
    import time

    from mlflow.tracking import MlflowClient

    from flows.pipeline import leaderboard_pipeline

    suite = yaml.safe_load((repo / "config" / "suites" / "open-llm-v1.yaml").read_text())
    suite.update(name="unit-scale", scale=1)
    suite["tasks"] = [t for t in suite["tasks"] if t["name"] in ("arc_challenge", "truthfulqa_mc2")]
    suite_file = tmp_path / "unit-scale.yaml"
    suite_file.write_text(yaml.safe_dump(suite))
    cfg = yaml.safe_load(experiment.read_text())
    cfg["eval"]["suite"] = str(suite_file)
    cfg["eval"]["limit"] = 2
    cfg["train"]["max_steps"] = 3
    experiment.write_text(yaml.safe_dump(cfg))

    edited = threading.Event()

    def edit_once_the_run_started() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if list((tmp_path / "state" / "runs").glob("*/config.yaml")):
                changed = {**cfg, "promotion": {**cfg["promotion"], "registered_model": "edited"}}
                changed["eval"] = {**cfg["eval"], "limit": 7}
                experiment.write_text(yaml.safe_dump(changed))
                edited.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=edit_once_the_run_started, daemon=True)
    watcher.start()
    summary = leaderboard_pipeline(str(experiment), [])
    watcher.join(timeout=5)
    assert edited.is_set(), "the config file was never edited during the run"
    assert yaml.safe_load(experiment.read_text())["eval"]["limit"] == 7  # the file did change

    assert summary.release.registered_model == "e2e-model"  # not "edited"
    result = summary.candidate_result
    assert result.limit == 2 and result.scale == 1.0 and result.suite == "unit-scale"
    assert set(result.tasks) == {"arc_challenge", "truthfulqa_mc2"}
    mean = sum(t.score for t in result.tasks.values()) / 2
    assert result.average == pytest.approx(mean) and 0.0 <= result.average <= 1.0
    assert summary.reference_result is not None and summary.reference_result.scale == 1.0
    assert summary.decision.delta == pytest.approx(
        result.average - summary.reference_result.average
    )

    uri = cfg["tracking"]["uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    parent_id = summary.mlflow_run_url.rsplit("/", 1)[-1]
    evals = [
        r
        for r in client.search_runs([client.get_experiment_by_name("e2e").experiment_id])
        if r.info.run_name == "evaluate_candidate"
        and r.data.tags.get("mlflow.parentRunId") == parent_id
    ]
    metrics = evals[0].data.metrics
    assert metrics["average"] == pytest.approx(result.average)
    se = result.tasks["arc_challenge"].stderr
    assert se is not None and metrics["stderr/arc_challenge"] == pytest.approx(se)
    assert metrics["score/arc_challenge"] == pytest.approx(result.tasks["arc_challenge"].score)
    mv = client.get_model_version("e2e-model", summary.release.version)
    assert float(mv.tags["climb.score.truthfulqa_mc2"]) == pytest.approx(
        result.tasks["truthfulqa_mc2"].score, abs=1e-4
    )
    (run_dir,) = (tmp_path / "state" / "runs").iterdir()
    snapshot = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (
        snapshot["eval"]["limit"] == 2 and snapshot["promotion"]["registered_model"] == "e2e-model"
    )
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["candidate_result"]["scale"] == 1.0
    if summary.release.promoted:
        card = (Path(summary.release.publish.location) / "README.md").read_text()
        assert f"**{result.average:.2f}**" in card and "0-1 scale" in card
