"""Publishing: the repo folder, the model card's model-index, the outbox without a token."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from support.factories import published_result

from climb.config import PublishConfig
from climb.evaluate.suites import load_suite
from climb.publish.card import model_card
from climb.publish.hub import DIGEST_FILE
from climb.publish.repo import build_repo_folder, folder_digest, hub_datasets
from climb.publish.target import PublishError, publish_folder
from climb.secrets import redact
from climb.state import StateDir

RESULT = published_result()


def _card():
    return model_card(
        repo_id="org/model",
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        result=RESULT,
        suite=load_suite("open-llm-v1"),
        license_id="apache-2.0",
        datasets=["instructions.jsonl"],
        config_yaml="name: demo\n",
        reasons=["average 41.50 beats base 40.00"],
    )


def _folder(tmp_path: Path) -> tuple[Path, str]:
    weights = tmp_path / "adapter"
    weights.mkdir()
    (weights / "adapter_model.safetensors").write_bytes(b"weights")
    (weights / "adapter_config.json").write_text("{}")
    folder = tmp_path / "repo"
    digest = build_repo_folder(
        folder,
        weights_dir=weights,
        card=_card(),
        leaderboard={"results": {}},
        config_yaml="name: demo\n",
    )
    return folder, digest


def test_model_card_has_leaderboard_model_index() -> None:
    text = str(_card())
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    results = meta["model-index"][0]["results"]
    by_name = {r["dataset"]["name"]: r for r in results}
    arc = by_name["AI2 Reasoning Challenge (25-Shot)"]
    assert arc["dataset"]["args"] == {"num_few_shot": 25}
    assert arc["metrics"][0]["type"] == "acc_norm"
    assert arc["metrics"][0]["value"] == 50.0
    assert arc["source"]["name"] == "Open LLM Leaderboard"
    assert len(results) == 4
    assert "41.50" in text


def test_model_card_shows_each_score_with_stderr_and_documents() -> None:
    text = str(_card())
    assert "| arc_challenge | 25 | acc_norm | 50.00 | 10.00 | 2 |" in text
    assert "| **average** | | | **41.50** | 5.00 | 8 |" in text
    assert "± is the standard error" in text


def test_model_card_uses_the_suites_scale() -> None:
    one = RESULT.model_copy(update={"scale": 1.0, "average": 0.415})
    card = model_card(
        repo_id="org/model",
        base_model="b",
        result=one,
        suite=load_suite("open-llm-v1"),
        license_id="mit",
        datasets=[],
        config_yaml="",
        reasons=["r"],
    )
    meta = yaml.safe_load(str(card).split("---")[1])
    values = {r["metrics"][0]["value"] for r in meta["model-index"][0]["results"]}
    assert values == {0.5, 0.25, 0.3, 0.61}
    assert "| arc_challenge | 25 | acc_norm | 0.50 | 0.10 | 2 |" in str(card)


def test_repo_folder_digest_is_stable_and_recorded(tmp_path: Path) -> None:
    folder, digest = _folder(tmp_path)
    assert (folder / DIGEST_FILE).read_text().strip() == digest == folder_digest(folder)
    assert {p.name for p in folder.iterdir()} >= {
        "README.md",
        "results.json",
        "climb_config.yaml",
        "adapter_model.safetensors",
    }


def test_no_token_writes_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    folder, digest = _folder(tmp_path)
    state = StateDir.at(tmp_path / "state")
    res = publish_folder(PublishConfig(repo_id="org/model"), folder, digest, state)
    assert res.mode == "outbox" and not res.pushed
    out = Path(res.location)
    assert out.is_relative_to(state.outbox)
    assert folder_digest(out) == digest
    assert "no HF_TOKEN set" in res.message


def test_push_mode_without_token_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_TOKEN", raising=False)
    folder, digest = _folder(tmp_path)
    cfg = PublishConfig(repo_id="org/model", mode="push", token_env="MY_TOKEN")
    with pytest.raises(PublishError, match=r"\$MY_TOKEN"):
        publish_folder(cfg, folder, digest, StateDir.at(tmp_path / "s"))


def test_card_metadata_and_text_name_data_library_and_hide_credentials() -> None:
    card = model_card(
        repo_id="org/model",
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        result=RESULT,
        suite=load_suite("open-llm-v1"),
        license_id="mit",
        datasets=hub_datasets(["hf://datasets/org/instruct/train.jsonl", "data/local.jsonl"]),
        config_yaml="tracking:\n  uri: https://bob:hunter2@mlflow.example.com\n",
        reasons=["manual by alice: better on our evals"],
        library_name="transformers",
        training_data=["local.jsonl", "hf://datasets/org/instruct"],
    )
    text = str(card)
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["datasets"] == ["org/instruct"]
    assert meta["library_name"] == "transformers" and meta["license"] == "mit"
    assert "Training data: local.jsonl, hf://datasets/org/instruct." in text
    assert "manual by alice: better on our evals" in text
    assert "hunter2" not in text and "https://mlflow.example.com" in text


def test_redact_removes_only_userinfo() -> None:
    assert redact("s3://k:s@bucket/x and http://h:5000/p") == "s3://bucket/x and http://h:5000/p"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"repo_id": "model"}, "does not match the pattern OWNER/NAME"),
        ({"repo_id": "a/model", "organization": "b"}, "differs from publish.organization"),
        ({"repo_id": "a/b/c"}, "repo_id"),
        ({"repo_id": "a/m", "token_env": "HF TOKEN"}, "token_env"),
        ({"repo_id": "a/m", "retries": -1}, "retries"),
    ],
)
def test_publish_config_rejects(fields: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        PublishConfig(**fields)


def test_full_repo_id() -> None:
    assert PublishConfig(repo_id="m", organization="team").full_repo_id == "team/m"
    assert PublishConfig(repo_id="team/m", organization="team").full_repo_id == "team/m"


def test_outbox_replaces_an_older_copy_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    folder, digest = _folder(tmp_path)
    state = StateDir.at(tmp_path / "state")
    first = Path(publish_folder(PublishConfig(repo_id="org/model"), folder, digest, state).location)
    (first / "stale.bin").write_bytes(b"old")
    second = publish_folder(
        PublishConfig(repo_id="org/model", mode="dry-run"), folder, digest, state
    )
    assert Path(second.location) == first and not (first / "stale.bin").exists()
    assert "publish.mode=dry-run" in second.message
