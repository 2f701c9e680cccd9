"""The promote stage with publishing required: the Hub push comes first, the champion alias
moves only once the model is on the Hub, a failed push leaves the alias where it was, and a
retry of the stage converges (same version, pushed once). The Hub token appears nowhere.

Starts: MLflow on SQLite in a temporary folder (no server process) and the local Hub HTTP
server of fake_hub.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_hub import FakeHub
from stage_helpers import (
    candidate,
    context,
    everything_mlflow_holds,
    result,
    sqlite_copy,
    sqlite_template,
    write_config,
)

from climb.pipeline import stages
from climb.config import PromotionConfig
from climb.publish.target import PublishError
from climb.registry.champion import history
from climb.registry.decision import Scores, decide
from climb.registry.tracking import client_for

pytestmark = pytest.mark.integration
TOKEN = "hf_climbSECRETtoken_0a1b2c3d4e5f"
MODEL = "pub-model"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.getbasetemp())


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    server = FakeHub(TOKEN)
    server.start()
    yield server
    server.stop()


def decision_for(cand: dict, ref: dict | None) -> dict:
    ref_scores = Scores.from_result(ref) if ref else None
    d = decide(
        Scores.from_result(cand), ref_scores, PromotionConfig(registered_model=MODEL), "base"
    )
    return d.to_dict()


def test_publish_first_then_alias_failed_push_keeps_champion_retry_converges(
    hub: FakeHub,
    template: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    uri = sqlite_copy(template, tmp_path)
    publish = {"mode": "push", "endpoint": hub.url, "retries": 1, "retry_backoff_s": 0.0}
    config = write_config(tmp_path, uri=uri, model=MODEL, publish=publish)
    client = client_for(uri)
    base = result(40.0)

    # Run 1 beats the base model: pushed, then champion.
    ctx1 = context(config)
    cand1, res1 = candidate(ctx1, "one"), result(50.0)
    ref1 = {"kind": "base", "version": None, "result": base}
    out1 = stages.register_and_promote(ctx1, cand1, res1, decision_for(res1, base), ref1)
    assert out1["promotion"] == {"registered_model": MODEL, "version": "1", "promoted": True}
    assert out1["publish"]["mode"] == "push" and out1["publish"]["pushed"] is True
    repo = hub.repos["climb-org/reg-model"]
    assert repo.private is True
    assert repo.head.files["adapter_model.safetensors"] == b"weights of one" * 64
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert "climb.published" in client.get_model_version(MODEL, "1").tags

    # Run 2 is better, but the Hub fails every commit: the alias must not move.
    ctx2 = context(config)
    cand2, res2 = candidate(ctx2, "two"), result(60.0)
    ref2 = {"kind": "champion", "version": "1", "result": res1}
    decision2 = decision_for(res2, res1)
    hub.fail_commits = 99
    with pytest.raises(PublishError, match="after 2 attempt"):
        stages.register_and_promote(ctx2, cand2, res2, decision2, ref2)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
    assert "PublishError" in client.get_model_version(MODEL, "2").tags["climb.promotion_error"]
    assert repo.head.files["adapter_model.safetensors"] == b"weights of one" * 64

    # The Hub recovers; the stage is retried (as Prefect does): same version, pushed, champion.
    hub.fail_commits = 0
    out2 = stages.register_and_promote(ctx2, cand2, res2, decision2, ref2)
    assert out2["promotion"] == {"registered_model": MODEL, "version": "2", "promoted": True}
    assert out2["publish"]["pushed"] is True
    assert repo.head.files["adapter_model.safetensors"] == b"weights of two" * 64
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert "climb.promotion_error" not in client.get_model_version(MODEL, "2").tags
    assert "challenger" not in client.get_registered_model(MODEL).aliases
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2
    events = history(client, MODEL)
    assert [(e.version, e.previous, e.kind) for e in events] == [
        ("1", None, "pipeline"),
        ("2", "1", "pipeline"),
    ]
    arts = {f.path for f in client.list_artifacts(ctx2.parent_run_id, "plots")}
    assert arts == {"plots/scores.png", "plots/champion_history.png"}

    # The token is nowhere: logs, output, MLflow (params, tags, artifacts, registry), the Hub repo.
    out, err = capfd.readouterr()
    assert hub.seen_auth == {TOKEN}
    assert TOKEN not in caplog.text and TOKEN not in out + err
    assert TOKEN not in everything_mlflow_holds(uri, tmp_path)
    for commit in repo.commits:
        for data in commit.files.values():
            assert TOKEN.encode() not in data
    card = repo.head.files["README.md"].decode()
    assert "model-index" in card and "tiny-base" in card


def test_a_candidate_that_loses_is_challenger_and_nothing_is_published(
    hub: FakeHub, template: Path, tmp_path: Path
) -> None:
    uri = sqlite_copy(template, tmp_path)
    publish = {"mode": "push", "endpoint": hub.url}
    config = write_config(tmp_path, uri=uri, model=MODEL, publish=publish)
    ctx = context(config)
    cand, res, base = candidate(ctx, "weak"), result(30.0), result(40.0)
    ref = {"kind": "base", "version": None, "result": base}
    out = stages.register_and_promote(ctx, cand, res, decision_for(res, base), ref)
    assert out["promotion"]["promoted"] is False
    assert out["publish"]["mode"] == "skipped" and "not promoted" in out["publish"]["message"]
    client = client_for(uri)
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"
    assert hub.repos == {}
    tags = client.get_model_version(MODEL, "1").tags
    for key in ("climb.config_hash", "climb.git_commit", "climb.lm_eval_version", "climb.result"):
        assert tags.get(key), key
    assert tags["climb.score.mmlu"] == "30.0000"


def test_champion_reference_reuses_recorded_scores_measured_the_same_way(
    template: Path, tmp_path: Path
) -> None:
    uri = sqlite_copy(template, tmp_path)
    config = write_config(tmp_path, uri=uri, model=MODEL, publish={"enabled": False})
    ctx = context(config)
    cand, res = candidate(ctx, "c"), result(50.0)
    base = {"kind": "base", "version": None, "result": result(40.0)}
    stages.register_and_promote(ctx, cand, res, decision_for(res, result(40.0)), base)
    ref = stages.champion_reference(ctx, {"path": "unused", "name": "x", "digest": "x"})
    assert ref["kind"] == "champion" and ref["version"] == "1"
    assert ref["result"]["average"] == 50.0  # recorded, not re-evaluated
    assert stages.measurement(ctx.config) == {
        "suite": "open-llm-v1",
        "suite_version": "1",
        "protocol": "lm-eval-0.4",
        "limit": 2,
        "data_source": "smoke",
    }


def test_dry_run_with_a_token_in_the_environment_writes_it_nowhere(
    hub: FakeHub, template: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    uri = sqlite_copy(template, tmp_path)
    config = write_config(tmp_path, uri=uri, model=MODEL, publish={"mode": "dry-run"})
    ctx = context(config)
    cand, res, base = candidate(ctx, "dry"), result(55.0), result(40.0)
    ref = {"kind": "base", "version": None, "result": base}
    out = stages.register_and_promote(ctx, cand, res, decision_for(res, base), ref)
    assert out["promotion"]["promoted"] and out["publish"]["mode"] == "outbox"
    outbox = Path(out["publish"]["location"])
    files = [p for p in outbox.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"README.md", "results.json", "adapter_model.safetensors"}
    assert all(TOKEN.encode() not in p.read_bytes() for p in files)
    assert TOKEN not in everything_mlflow_holds(uri, tmp_path)
    assert TOKEN not in "".join(capfd.readouterr())
    assert hub.repos == {}  # dry-run never talks to the Hub
