"""Config schema: every YAML in config/ validates; bad keys and values fail naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from climb.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    load_config,
    validate_config,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
# suites/ and tasks/ hold suite and lm-eval task YAMLs (validated below); every other YAML under
# config/, in any subfolder (config/examples/...), is an experiment
EXPERIMENTS = sorted(
    p for p in CONFIG.rglob("*.yaml") if p.relative_to(CONFIG).parts[0] not in ("suites", "tasks")
)


def _demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(CONFIG)))
def test_every_experiment_yaml_validates(path: Path) -> None:
    from climb.evaluate.suites import load_suite

    cfg = load_config(path)
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.name
    for suite in (cfg.eval.suite, cfg.data.decontamination.suite):
        if suite:
            load_suite(suite)  # the suite it evaluates on (and decontaminates against) exists


def test_there_is_a_demo_config_and_examples_in_subfolders() -> None:
    assert CONFIG / "demo.yaml" in EXPERIMENTS
    assert any(p.parent == CONFIG / "examples" for p in EXPERIMENTS)


def test_every_yaml_under_config_is_validated() -> None:
    """Experiments above, suites and task YAMLs below: no YAML in config/ escapes a check."""
    covered = (
        set(EXPERIMENTS)
        | set((CONFIG / "suites").glob("*.yaml"))
        | set((CONFIG / "tasks").rglob("*.yaml"))
    )
    assert set(CONFIG.rglob("*.yaml")) - covered == set()
    assert not list(CONFIG.rglob("*.yml")), "name YAML files *.yaml so the tests find them"


def test_korean_example_climbs_the_korean_suite() -> None:
    (path,) = sorted((CONFIG / "examples").glob("ko-*.yaml"))
    cfg = load_config(path)
    assert cfg.eval.suite == "ko-public"  # promotion compares this suite's average
    assert cfg.promotion.min_improvement > 0
    (source,) = cfg.data.sources
    assert source.path.startswith("hf://datasets/")  # a Hub dataset, never downloaded here
    assert cfg.data.filters.languages == ["ko"]


def test_every_suite_yaml_validates() -> None:
    from climb.evaluate.suites import load_suite

    suites = sorted((REPO / "config" / "suites").glob("*.yaml"))
    assert suites, "no suites shipped"
    for path in suites:
        suite = load_suite(str(path))
        assert suite.name == path.stem
        assert suite.tasks


def test_every_task_yaml_is_indexed_by_lm_eval() -> None:
    from climb.evaluate.tasks import task_manager

    tm = task_manager()
    names = set(tm.all_tasks)
    for path in (REPO / "config" / "tasks").rglob("*.yaml"):
        doc = yaml.safe_load(path.read_text().replace("!function", "")) or {}
        if path.name == "mirror.yaml" or path.name.startswith("_"):
            continue
        name = doc.get("task") if isinstance(doc.get("task"), str) else doc.get("group")
        assert name in names, f"{path} ({name}) not indexed by lm-eval"


def test_mirror_layout_lists_files_for_every_entry() -> None:
    from climb.evaluate.mirror import load_layout

    layout = load_layout(REPO / "config" / "tasks" / "mirror.yaml")
    for hub_path, names in layout.items():
        for name, entry in names.items():
            assert entry["files"], f"{hub_path}/{name} has no files"


def test_overrides_apply_with_types() -> None:
    cfg = load_config(
        REPO / "config" / "demo.yaml",
        ["train.lr=1e-4", "eval.limit=3", "train.lora.r=8", "publish.enabled=false"],
    )
    assert cfg.train.lr == pytest.approx(1e-4)
    assert cfg.eval.limit == 3
    assert cfg.train.lora.r == 8
    assert cfg.publish.enabled is False


def test_config_digest_changes_with_content() -> None:
    a = load_config(REPO / "config" / "demo.yaml")
    b = load_config(REPO / "config" / "demo.yaml", ["train.lr=1e-3"])
    assert a.digest() == load_config(REPO / "config" / "demo.yaml").digest()
    assert a.digest() != b.digest()


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        (["train.lrr=1"], "train.lrr", "unknown field"),
        (["bogus.section=1"], "bogus", "unknown field"),
        (["train.lr=-0.1"], "train.lr", "greater than 0"),
        (["train.lr=fast"], "train.lr", "valid number"),
        (["train.max_steps=0"], "train.max_steps", "greater than or equal to 1"),
        (["train.method=dpo"], "train.method", "lora"),
        (["launcher.nproc=0"], "launcher.nproc", "greater than or equal to 1"),
        (["eval.limit=-5"], "eval.limit", "greater than or equal to 1"),
        (["promotion.registered_model=../../etc"], "promotion.registered_model", "pattern"),
        (["publish.repo_id=no-slash"], "publish.repo_id", "pattern"),
        (["data.sources=[]"], "data.sources", "at least 1"),
    ],
)
def test_bad_values_name_the_field(overrides: list[str], field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "config" / "demo.yaml", overrides)
    assert field in str(err.value)
    assert hint in str(err.value)


def test_missing_section_is_named() -> None:
    raw = _demo()
    del raw["promotion"]
    with pytest.raises(ConfigError, match=r"promotion: required field is missing"):
        validate_config(raw)


def test_qlora_with_cpu_backend_is_rejected() -> None:
    raw = apply_overrides(_demo(), ["train.method=qlora", "launcher.backend=gloo"])
    with pytest.raises(ConfigError, match="qlora"):
        validate_config(raw)


def test_override_syntax_errors() -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"train": {"lr": 1}}, ["train.lr.x=1"])


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_tracking_http_settings_are_read_by_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported retry settings must parse with MLflow's own readers (it wants integers)."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    for name in (
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    cfg = load_config(
        REPO / "config" / "demo.yaml",
        ["tracking.http_retries=3", "tracking.http_backoff_factor=4", "tracking.http_timeout_s=9"],
    )
    cfg.tracking.apply_http_settings()
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 3
    assert MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == 4
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 9
