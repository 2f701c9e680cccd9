"""The promote stage with publishing required: the Hub push comes first, the champion alias
moves only once the model is on the Hub, a failed push leaves the alias where it was, and a
retry of the stage converges (same version, pushed once). The Hub token appears nowhere.

Starts: MLflow on SQLite in a temporary folder (no server process) and the local Hub HTTP
server of support/fake_hub.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.factories import eval_result, prepared_data, resolved_model
from support.fake_hub import FakeHub
from support.stages import (
    cache_evaluation,
    candidate,
    context,
    everything_mlflow_holds,
    sqlite_copy,
    sqlite_template,
    write_config,
)

from climb.config import PromotionConfig
from climb.evaluate.suites import load_suite
from climb.pipeline import stages
from climb.publish.target import PublishError
from climb.records import Decision, EvalResult, Reference
from climb.registry.champion import history
from climb.registry.decision import decide
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


DATA = prepared_data()


def result(average: float) -> EvalResult:
    return eval_result(average, digest=f"d{average}")


def decision_for(cand: EvalResult, ref: EvalResult | None) -> Decision:
    policy = PromotionConfig(registered_model=MODEL)
    return decide(cand, ref, policy, load_suite("open-llm-v1"), "base")


def base_ref(res: EvalResult) -> Reference:
    return Reference(kind="base", result=res)


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
    out1 = stages.promote(ctx1, cand1, res1, base_ref(base), decision_for(res1, base), DATA)
    assert (out1.registered_model, out1.version, out1.promoted) == (MODEL, "1", True)
    assert out1.publish.mode == "push" and out1.publish.pushed is True
    repo = hub.repos["climb-org/reg-model"]
    assert repo.private is True
    assert repo.head.files["adapter_model.safetensors"] == b"weights of one" * 64
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert "climb.published" in client.get_model_version(MODEL, "1").tags

    # Run 2 is better, but the Hub fails every commit: the alias must not move.
    ctx2 = context(config)
    cand2, res2 = candidate(ctx2, "two"), result(60.0)
    ref2 = Reference(kind="champion", version="1", result=res1)
    decision2 = decision_for(res2, res1)
    hub.fail_commits = 99
    with pytest.raises(PublishError, match="after 2 attempt"):
        stages.promote(ctx2, cand2, res2, ref2, decision2, DATA)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
    assert "PublishError" in client.get_model_version(MODEL, "2").tags["climb.promotion_error"]
    assert repo.head.files["adapter_model.safetensors"] == b"weights of one" * 64

    # The Hub recovers; the stage is retried (as Prefect does): same version, pushed, champion.
    hub.fail_commits = 0
    out2 = stages.promote(ctx2, cand2, res2, ref2, decision2, DATA)
    assert (out2.version, out2.promoted, out2.publish.pushed) == ("2", True, True)
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
    out = stages.promote(ctx, cand, res, base_ref(base), decision_for(res, base), DATA)
    assert out.promoted is False
    assert out.publish.mode == "skipped" and "not promoted" in out.publish.message
    client = client_for(uri)
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"
    assert hub.repos == {}
    tags = client.get_model_version(MODEL, "1").tags
    for key in ("climb.config_hash", "climb.git_commit", "climb.lm_eval_version", "climb.result"):
        assert tags.get(key), key
    assert tags["climb.score.mmlu"] == "30.0000"
    assert tags["climb.dataset_digest"] == DATA.digest


def test_champion_reference_comes_from_the_cache_by_weights_digest(
    template: Path, tmp_path: Path
) -> None:
    uri = sqlite_copy(template, tmp_path)
    config = write_config(tmp_path, uri=uri, model=MODEL, publish={"enabled": False})
    ctx = context(config)
    cand = candidate(ctx, "c")
    res = cache_evaluation(config, result(50.0), cand.digest)  # as evaluate_candidate leaves it
    stages.promote(ctx, cand, res, base_ref(result(40.0)), decision_for(res, result(40.0)), DATA)
    ref = stages.evaluate_reference(ctx, resolved_model("/unused"))
    assert ref.kind == "champion" and ref.version == "1" and ref.label == "champion v1"
    assert ref.result is not None and ref.result.cached  # not re-evaluated, weights not fetched
    assert ref.result.average == 50.0 and ref.result.documents == res.documents
    assert ref.seconds == 0.0
    assert not (Path(ctx.run_dir) / "champion").exists()


def test_dry_run_with_a_token_in_the_environment_writes_it_nowhere(
    hub: FakeHub, template: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    uri = sqlite_copy(template, tmp_path)
    config = write_config(tmp_path, uri=uri, model=MODEL, publish={"mode": "dry-run"})
    ctx = context(config)
    cand, res, base = candidate(ctx, "dry"), result(55.0), result(40.0)
    out = stages.promote(ctx, cand, res, base_ref(base), decision_for(res, base), DATA)
    assert out.promoted and out.publish.mode == "outbox"
    outbox = Path(out.publish.location)
    files = [p for p in outbox.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"README.md", "results.json", "adapter_model.safetensors"}
    assert all(TOKEN.encode() not in p.read_bytes() for p in files)
    assert TOKEN not in everything_mlflow_holds(uri, tmp_path)
    assert TOKEN not in "".join(capfd.readouterr())
    assert hub.repos == {}  # dry-run never talks to the Hub
