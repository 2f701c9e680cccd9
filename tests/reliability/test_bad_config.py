"""Malformed configs: each fails before any work, with a message naming the field.

Most cases go through load_config + preflight (what `climb run` does first); a few go through
the real `climb run` command to show that nothing is started or written (no state folder, no
Prefect server, no MLflow database).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from climb.config import ConfigError, load_config
from climb.preflight import preflight

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _set(cfg: dict, dotted: str, value: Any) -> dict:
    node = cfg
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return cfg


def _drop(cfg: dict, dotted: str) -> dict:
    node = cfg
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[p]
    del node[last]
    return cfg


CASES: list[tuple[str, Any, str]] = [
    # (case id, mutation, text the error must contain)
    ("unknown-top-level-key", lambda c: _set(c, "trian", {"lr": 1}), "trian: unknown field"),
    ("unknown-nested-key", lambda c: _set(c, "train.lrr", 1e-4), "train.lrr: unknown field"),
    ("wrong-type", lambda c: _set(c, "train.max_steps", "many"), "train.max_steps"),
    ("negative-lr", lambda c: _set(c, "train.lr", -1e-4), "train.lr"),
    ("zero-lr", lambda c: _set(c, "train.lr", 0), "train.lr"),
    ("missing-model", lambda c: _drop(c, "model"), "model: required field is missing"),
    ("missing-sources", lambda c: _drop(c, "data.sources"), "data.sources: required field"),
    ("empty-sources", lambda c: _set(c, "data.sources", []), "data.sources"),
    (
        "source-file-missing",
        lambda c: _set(c, "data.sources", [{"path": "nope.jsonl"}]),
        "data.sources.0.path: nope.jsonl does not exist",
    ),
    ("qlora-on-cpu", lambda c: _set(c, "train.method", "qlora"), "train.method: qlora needs"),
    ("nproc-beyond-devices", lambda c: _set(c, "launcher.nproc", 64), "launcher.nproc: 64"),
    ("missing-suite", lambda c: _set(c, "eval.suite", "no-such-suite"), "eval.suite"),
    ("zero-limit", lambda c: _set(c, "eval.limit", 0), "eval.limit"),
    ("missing-mirror", lambda c: _set(c, "eval.data_dir", "/no/such/mirror"), "eval.data_dir"),
    ("bf16-on-cpu", lambda c: _set(c, "train.precision", "bf16"), "train.precision: bf16"),
    ("nccl-on-cpu", lambda c: _set(c, "launcher.backend", "nccl"), "launcher.backend: nccl"),
    (
        "registry-name-traversal",
        lambda c: _set(c, "promotion.registered_model", "../../x"),
        "promotion.registered_model",
    ),
    ("bad-repo-id", lambda c: _set(c, "publish.repo_id", "no slash here"), "publish.repo_id"),
    ("push-without-token", lambda c: _set(c, "publish.mode", "push"), "publish.mode: push"),
    ("unknown-launcher", lambda c: _set(c, "launcher.kind", "slurm"), "launcher.kind"),
    ("k8s-without-image", lambda c: _set(c, "launcher.kind", "kubernetes"), "launcher"),
    ("dropout-out-of-range", lambda c: _set(c, "train.lora.dropout", 1.5), "train.lora.dropout"),
    ("unknown-method", lambda c: _set(c, "train.method", "dpo"), "train.method"),
    ("missing-experiment", lambda c: _drop(c, "tracking.experiment"), "tracking.experiment"),
    ("shell-metachar-name", lambda c: _set(c, "name", "demo; rm -rf /"), "name"),
    ("zero-max-length", lambda c: _set(c, "data.max_length", 0), "data.max_length"),
    (
        "checkpoint-uri-not-s3",
        lambda c: _set(c, "train.checkpoint_uri", "/tmp/x"),
        "train.checkpoint_uri",
    ),
    ("empty-base-model", lambda c: _set(c, "model.base", ""), "model.base"),
    ("negative-margin", lambda c: _set(c, "promotion.min_improvement", -1), "min_improvement"),
    (
        "flash-attn-missing",
        lambda c: _set(c, "train.attn_implementation", "flash_attention_2"),
        "train.attn_implementation",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_fails_before_work(
    case: str, mutate: Any, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # data paths in demo.yaml are relative to the repo root
    monkeypatch.delenv("HF_TOKEN", raising=False)
    cfg = mutate(copy.deepcopy(DEMO))
    cfg["state_dir"] = str(tmp_path / "state")
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        preflight(load_config(path))
    assert expected in str(err.value), str(err.value)
    assert not (tmp_path / "state").exists(), "work started before the config was rejected"


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


def test_unparseable_yaml_and_wrong_shape(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: demo\ntrain: [lr: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    shaped = tmp_path / "list.yaml"
    shaped.write_text("- name: demo\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(shaped)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.lrr=1"], "train.lrr: unknown field"),
        (["train.method=qlora"], "train.method: qlora needs"),
        (["eval.data_dir=/no/such/mirror"], "eval.data_dir"),
    ],
)
def test_climb_run_rejects_without_starting_anything(
    overrides: list[str], expected: str, tmp_path: Path
) -> None:
    cfg = copy.deepcopy(DEMO)
    cfg["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env["CLIMB_PREFECT_PORT"] = "1"  # a server start would fail loudly, not reuse one
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", str(path), *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "state").exists()
