"""The run context: what every stage of one pipeline run shares. It is made once, at start: the
config validated then (a snapshot: the YAML is never re-read during the run, so editing the file
mid-run changes nothing), the provenance recorded on the parent MLflow run, the run folder and
the tracking server. Also the nested stage runs, and the end of the run (summary or failure).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from climb.config import ExperimentConfig, dump_config, load_config
from climb.console import stage_scope, step
from climb.preflight import preflight
from climb.records import RunSummary
from climb.registry import tags as T
from climb.registry import tracking
from climb.registry.sysmetrics import monitor
from climb.secrets import redact
from climb.state import StateDir, write_json_atomic

log = logging.getLogger(__name__)


class RunContext(BaseModel):
    """What every stage of one run needs: the config as validated at start, where the run's
    files go, and its MLflow runs. Frozen: a stage cannot change what the next one sees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: ExperimentConfig
    config_path: str
    overrides: tuple[str, ...]
    provenance: dict[str, str]
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    run_dir: str

    @property
    def state(self) -> StateDir:
        """The state folder layout."""
        return StateDir.at(self.config.state_dir)

    def client(self) -> Any:
        """An MlflowClient for this run's tracking server."""
        return tracking.client_for(self.tracking_uri)

    def config_yaml(self) -> str:
        """The run's config as YAML (what `config.yaml` in the run folder holds)."""
        return dump_config(self.config)


def git_commit(cwd: Path | None = None) -> str:
    """Return the current git commit (with `-dirty` if the tree has changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def start_pipeline(
    config_path: str,
    overrides: list[str],
    flow_run_id: str | None = None,
    flow_run_url: str | None = None,
) -> RunContext:
    """Validate the config, run preflight checks, open the parent MLflow run; return the context.

    Raises ConfigError (bad config or a combination this machine cannot run) before any work.
    """
    cfg = load_config(config_path, overrides)
    return open_run(cfg, config_path, overrides, flow_run_id, flow_run_url)


def open_run(
    cfg: ExperimentConfig,
    config_path: str,
    overrides: list[str],
    flow_run_id: str | None = None,
    flow_run_url: str | None = None,
) -> RunContext:
    """Open the parent MLflow run of a validated config (preflight first); return the context."""
    import lm_eval

    preflight(cfg)
    cfg.tracking.apply_http_settings()
    state = StateDir.at(cfg.state_dir)
    uri = tracking.tracking_uri(cfg.tracking, state)
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, cfg.tracking.experiment, state)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tags = {
        T.CONFIG_HASH: cfg.digest(),
        T.GIT_COMMIT: git_commit(),
        T.BASE_MODEL: cfg.model.display_name,
        T.BASE_MODEL_URI: cfg.model.base,
        T.BASE_MODEL_REVISION: cfg.model.revision or "",
        T.SUITE: cfg.eval.suite,
        T.PROTOCOL: cfg.eval.protocol,
        T.LM_EVAL_VERSION: lm_eval.__version__,
        T.LAUNCHER: cfg.launcher.kind,
        T.CONFIG_PATH: config_path,
        T.PREFECT_FLOW_RUN_ID: flow_run_id or "",
        T.PREFECT_FLOW_RUN_URL: flow_run_url or "",
    }
    parent = tracking.start_run(client, exp_id, f"{cfg.name}-{stamp}", tags=tags)
    tracking.log_flat(client, parent, params=tracking.flatten("", cfg.model_dump(mode="json")))
    run_dir = state.run_dir(f"{stamp}-{parent[:8]}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(redact(dump_config(cfg)))
    client.log_artifact(parent, str(run_dir / "config.yaml"))
    return RunContext(
        config=cfg.model_copy(deep=True),
        config_path=config_path,
        overrides=tuple(overrides),
        provenance=tags,
        tracking_uri=uri,
        experiment_id=exp_id,
        parent_run_id=parent,
        run_dir=str(run_dir),
    )


@contextmanager
def stage_run(ctx: RunContext, stage: str) -> Iterator[str]:
    """Open a nested MLflow run for `stage`; close it FINISHED or FAILED; log its wall time."""
    client = ctx.client()
    run_id = tracking.start_run(
        client, ctx.experiment_id, stage, parent_id=ctx.parent_run_id, tags={T.STAGE: stage}
    )
    start = time.perf_counter()
    interval = ctx.config.tracking.system_metrics_interval_s
    sampling: AbstractContextManager[Any] = (
        monitor(run_id, ctx.tracking_uri, interval) if interval > 0 else nullcontext()
    )
    try:
        with stage_scope(stage), sampling:
            step("> %s", stage)
            yield run_id
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"[:4000]
        with stage_scope(stage):
            step("x %s failed after %.1fs: %s", stage, time.perf_counter() - start, error)
        _best_effort(
            lambda: tracking.log_flat(
                client,
                run_id,
                tags={T.ERROR: error},
                metrics={"stage_seconds": time.perf_counter() - start},
            ),
            lambda: client.set_terminated(run_id, "FAILED"),
        )
        raise
    seconds = time.perf_counter() - start
    tracking.log_flat(client, run_id, metrics={"stage_seconds": seconds})
    client.set_terminated(run_id, "FINISHED")
    with stage_scope(stage):
        step("  %s done in %.1fs", stage, seconds)


def finish_pipeline(ctx: RunContext, summary: RunSummary) -> None:
    """Write the run summary (summary.json, an artifact of the parent run), log the stage times
    as metrics and close the parent run FINISHED."""
    client = ctx.client()
    path = Path(ctx.run_dir) / "summary.json"
    write_json_atomic(path, json.loads(redact(summary.model_dump_json())))
    client.log_artifact(ctx.parent_run_id, str(path))
    timings = summary.timings.model_dump()
    tracking.log_flat(
        client, ctx.parent_run_id, metrics={f"time/{k}": v for k, v in timings.items()}
    )
    _best_effort(lambda: attach_log(ctx))
    close_run(ctx)


LOG_ENV = "CLIMB_LOG_FILE"
LOG_NAME = "climb.log"


def attach_log(ctx: RunContext) -> Path | None:
    """Copy the run's log file (CLIMB_LOG_FILE, set by `climb run`) into the run folder and
    log it as an artifact of the parent run; return its copy (None without a log file)."""
    source = os.environ.get(LOG_ENV)
    if not source or not Path(source).is_file():
        return None
    for handler in logging.getLogger().handlers:
        handler.flush()
    target = Path(ctx.run_dir) / LOG_NAME
    shutil.copyfile(source, target)
    ctx.client().log_artifact(ctx.parent_run_id, str(target))
    return target


def close_run(ctx: RunContext) -> None:
    """Close the parent run FINISHED."""
    ctx.client().set_terminated(ctx.parent_run_id, "FINISHED")


def fail_pipeline(ctx: RunContext, error: BaseException) -> None:
    """Mark the parent run FAILED with the error (alias, versions and Hub untouched)."""
    client = ctx.client()
    _best_effort(
        lambda: tracking.log_flat(
            client,
            ctx.parent_run_id,
            tags={T.ERROR: f"{type(error).__name__}: {error}"[:4000]},
        ),
        lambda: attach_log(ctx),
        lambda: client.set_terminated(ctx.parent_run_id, "FAILED"),
    )


def _best_effort(*calls: Callable[[], Any]) -> None:
    """Run MLflow bookkeeping for a failure; if the tracking server is what failed, log and go
    on, so the original error (not a second one about MLflow) is what the caller sees."""
    for call in calls:
        try:
            call()
        except Exception as exc:  # the original error is being raised; do not mask it
            log.warning("could not record the failure in MLflow: %s", exc)
