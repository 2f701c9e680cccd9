"""Manual champion changes: `climb promote VERSION` and `climb rollback`.

Both go through the same path as the pipeline (climb.registry.champion.release: lock, publish
first when publishing is enabled, then move the alias) and are recorded in MLflow three ways:
tags on the version (who, when, why), an event in the champion history (registered-model tag),
and a run in the config's experiment named after the action.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from climb.config import ExperimentConfig
from climb.publish.repo import assemble, publish_weights
from climb.publish.target import publish_folder
from climb.records import PublishResult
from climb.registry import tags as T
from climb.registry import tracking, versions
from climb.registry.champion import (
    ChampionChange,
    ChampionError,
    history,
    release,
    rollback_target,
)
from climb.state import StateDir


def who() -> str:
    """The person acting: $CLIMB_USER, else the login name."""
    try:
        return os.environ.get("CLIMB_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def version_repo_folder(
    cfg: ExperimentConfig, client: Any, version: str, reasons: list[str], work: Path
) -> tuple[Path, str]:
    """Rebuild the Hub repo folder of a registered version from what MLflow recorded (weights,
    scores, config of its pipeline run); return (folder, digest). Raises ChampionError when the
    version lacks a record the card needs."""
    name = cfg.promotion.registered_model
    mv = versions.get_version(client, name, version)
    scores = mv.scores
    if scores is None:
        raise ChampionError(f"{name} v{version} has no recorded scores ({T.RESULT})")
    run_id = mv.tags.get(T.PIPELINE_RUN_ID)
    if not run_id:
        raise ChampionError(f"{name} v{version} was not registered by a climb pipeline run")
    from mlflow.artifacts import download_artifacts

    cfg_file = download_artifacts(
        run_id=run_id,
        artifact_path="config.yaml",
        dst_path=str(work),
        tracking_uri=client.tracking_uri,
    )
    config_yaml = Path(cfg_file).read_text()
    sources = [s["path"] for s in (yaml.safe_load(config_yaml) or {}).get("data", {})["sources"]]
    weights = tracking.download(client, mv.source, work / "weights")
    base_path = ""
    if cfg.publish.weights == "merged" and mv.method != "full":
        from climb.models import resolve_model

        uri = mv.tags.get(T.BASE_MODEL_URI, cfg.model.base)
        base_path = resolve_model(uri, StateDir.at(cfg.state_dir)).path
    weights_dir, library = publish_weights(cfg.publish, mv.method, base_path, weights, work)
    folder = work / "publish"
    digest = assemble(
        cfg.publish,
        folder,
        weights_dir=weights_dir,
        library_name=library,
        base_model=mv.tags.get(T.BASE_MODEL, cfg.model.display_name),
        result=scores,
        config_yaml=config_yaml,
        reasons=reasons,
        source_paths=sources,
    )
    return folder, digest


def change_champion(
    cfg: ExperimentConfig,
    client: Any,
    version: str,
    *,
    kind: str,
    by: str,
    reason: str,
    restores: str | None = None,
    expect_current: str | None = None,
) -> ChampionChange:
    """Make `version` the champion by hand (kind: manual | rollback), publishing first when
    `publish.enabled`; record it in MLflow. With `expect_current`, only if that version is still
    the champion once the lock is held. Returns the ChampionChange; raises on failure (alias
    kept).
    """
    name = cfg.promotion.registered_model
    client.get_model_version(name, version)  # fails clearly for an unknown version
    state = StateDir.at(cfg.state_dir)
    exp_id = tracking.ensure_experiment(client, cfg.tracking.experiment, state)
    note = f"{kind} by {by}: {reason}"
    run_id = tracking.start_run(
        client,
        exp_id,
        f"{kind}-v{version}",
        tags={
            T.ACTION: kind,
            T.BY: by,
            T.REASON: reason,
            T.VERSION: version,
            T.REGISTERED_MODEL: name,
        },
    )

    def publish() -> PublishResult:
        with tempfile.TemporaryDirectory(prefix="climb-release-") as tmp:
            folder, digest = version_repo_folder(cfg, client, version, [note], Path(tmp))
            return publish_folder(cfg.publish, folder, digest, state)

    try:
        outcome = release(
            client,
            name,
            version,
            accept=lambda current: _expected(current, expect_current, note),
            publish=publish if cfg.publish.enabled else None,
            kind=kind,
            by=by,
            reason=reason,
            run_id=run_id,
            restores=(lambda current: restores) if restores else None,
            timeout_s=cfg.promotion.lock_timeout_s,
            stale_s=cfg.promotion.lock_stale_s,
        )
    except Exception as exc:
        tracking.log_flat(client, run_id, tags={T.ERROR: f"{type(exc).__name__}: {exc}"})
        client.set_terminated(run_id, "FAILED")
        raise
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for key, value in {"by": by, "at": stamp, "reason": reason}.items():
        client.set_model_version_tag(name, version, T.manual_tag(kind, key), value[:4000])
    tracking.log_flat(
        client,
        run_id,
        tags={T.PREVIOUS: outcome.previous or "", T.PROMOTED: outcome.promoted},
    )
    client.set_terminated(run_id, "FINISHED")
    return outcome


def _expected(current: Any, expect: str | None, note: str) -> tuple[bool, str]:
    if expect is None or (current is not None and current.version == expect):
        return True, note
    now = current.version if current else "none"
    return False, f"the champion changed to {now} meanwhile (expected {expect}); nothing done"


def rollback(cfg: ExperimentConfig, client: Any, *, by: str, reason: str) -> ChampionChange:
    """Move `champion` back to the version it replaced (following the champion history)."""
    name = cfg.promotion.registered_model
    current = versions.get_champion(client, name)
    if current is None:
        raise ChampionError(f"{name} has no champion: nothing to roll back")
    target, restores = rollback_target(history(client, name), current.version)
    return change_champion(
        cfg,
        client,
        target,
        kind="rollback",
        by=by,
        reason=reason,
        restores=restores,
        expect_current=current.version,
    )
