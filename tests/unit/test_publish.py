"""Publishing: the repo folder, the model card's model-index, the outbox without a token."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from climb.config import PublishConfig
from climb.evaluate.suites import load_suite
from climb.publish import (
    DIGEST_FILE,
    PublishError,
    build_repo_folder,
    folder_digest,
    model_card,
    publish_folder,
)
from climb.state import StateDir

RESULT = {
    "suite": "open-llm-v1",
    "suite_version": "1",
    "protocol": "lm-eval-0.4",
    "lm_eval_version": "0.4.13",
    "limit": 2,
    "data_source": "smoke",
    "average": 41.5,
    "deviations": ["hellaswag few-shot from validation"],
    "model": {"name": "base + lora", "digest": "abc", "dtype": "float32"},
    "tasks": {
        "arc_challenge": {
            "score": 0.5,
            "stderr": 0.1,
            "metric": "acc_norm",
            "num_fewshot": 25,
            "n": 2,
        },
        "hellaswag": {
            "score": 0.25,
            "stderr": 0.1,
            "metric": "acc_norm",
            "num_fewshot": 10,
            "n": 2,
        },
        "mmlu": {"score": 0.3, "stderr": 0.05, "metric": "acc", "num_fewshot": 5, "n": 114},
        "truthfulqa_mc2": {"score": 0.61, "stderr": 0.1, "metric": "acc", "num_fewshot": 0, "n": 2},
    },
}


def _card():
    return model_card(
        repo_id="org/model",
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        result=RESULT,
        suite=load_suite("open-llm-v1"),
        license_id="apache-2.0",
        datasets=["instructions.jsonl"],
        config_yaml="name: demo\n",
        decision={"reasons": ["average 41.50 beats base 40.00"]},
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
