"""The pipeline's stages as plain functions: each opens a nested MLflow run under the pipeline's
parent run, calls the stage's module (models, data, launch, evaluate, promotion, publish), logs
what it did, and returns a small JSON-serialisable dict for the next stage.

The Prefect flow in flows/ calls these one by one; tests call them directly.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from climb.config import ExperimentConfig, dump_config, load_config
from climb.preflight import preflight
from climb.registry import tracking
from climb.registry.sysmetrics import monitor
from climb.secrets import redact
from climb.state import StateDir, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What every stage needs to find the config, the state folder and its MLflow runs."""

    config_path: str
    overrides: tuple[str, ...]
    state_root: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    run_dir: str
    stage_runs: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> ExperimentConfig:
        """The validated experiment config (re-read; it was validated at start)."""
        return load_config(self.config_path, list(self.overrides))

    @property
    def state(self) -> StateDir:
        """The state folder layout."""
        return StateDir.at(self.state_root)

    def client(self) -> Any:
        """An MlflowClient for this run's tracking server."""
        return tracking.client_for(self.tracking_uri)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


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
    import lm_eval

    cfg = load_config(config_path, overrides)
    preflight(cfg)
    cfg.tracking.apply_http_settings()
    state = StateDir.at(cfg.state_dir)
    uri = tracking.tracking_uri(cfg.tracking, state)
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, cfg.tracking.experiment, state)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tags = {
        "climb.config_hash": cfg.digest(),
        "climb.git_commit": git_commit(),
        "climb.base_model": cfg.model.display_name,
        "climb.base_model_uri": cfg.model.base,
        "climb.base_model_revision": cfg.model.revision or "",
        "climb.suite": cfg.eval.suite,
        "climb.protocol": cfg.eval.protocol,
        "climb.lm_eval_version": lm_eval.__version__,
        "climb.launcher": cfg.launcher.kind,
        "climb.config_path": config_path,
        "climb.prefect_flow_run_id": flow_run_id or "",
        "climb.prefect_flow_run_url": flow_run_url or "",
    }
    parent = tracking.start_run(client, exp_id, f"{cfg.name}-{stamp}", tags=tags)
    tracking.log_flat(client, parent, params=tracking.flatten("", cfg.model_dump(mode="json")))
    run_dir = state.run_dir(f"{stamp}-{parent[:8]}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(redact(dump_config(cfg)))
    client.log_artifact(parent, str(run_dir / "config.yaml"))
    return RunContext(
        config_path, tuple(overrides), str(state.root), uri, exp_id, parent, str(run_dir)
    )


@contextmanager
def stage_run(ctx: RunContext, stage: str) -> Iterator[str]:
    """Open a nested MLflow run for `stage`; close it FINISHED or FAILED; log its wall time."""
    client = ctx.client()
    run_id = tracking.start_run(
        client, ctx.experiment_id, stage, parent_id=ctx.parent_run_id, tags={"climb.stage": stage}
    )
    start = time.perf_counter()
    interval = ctx.config.tracking.system_metrics_interval_s
    sampling: AbstractContextManager[Any] = (
        monitor(run_id, ctx.tracking_uri, interval) if interval > 0 else nullcontext()
    )
    try:
        with sampling:
            yield run_id
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"[:4000]
        _best_effort(
            lambda: tracking.log_flat(
                client,
                run_id,
                tags={"climb.error": error},
                metrics={"stage_seconds": time.perf_counter() - start},
            ),
            lambda: client.set_terminated(run_id, "FAILED"),
        )
        raise
    tracking.log_flat(client, run_id, metrics={"stage_seconds": time.perf_counter() - start})
    client.set_terminated(run_id, "FINISHED")


def finish_pipeline(ctx: RunContext, summary: dict[str, Any], status: str = "FINISHED") -> None:
    """Write the run summary (JSON artifact + metrics) and close the parent run."""
    client = ctx.client()
    path = Path(ctx.run_dir) / "summary.json"
    write_json_atomic(path, json.loads(redact(json.dumps(summary, default=str))))
    client.log_artifact(ctx.parent_run_id, str(path))
    timings = summary.get("timings", {})
    tracking.log_flat(
        client,
        ctx.parent_run_id,
        metrics={f"time/{k}": v for k, v in timings.items() if isinstance(v, int | float)},
    )
    client.set_terminated(ctx.parent_run_id, status)


def fail_pipeline(ctx: RunContext, error: BaseException) -> None:
    """Mark the parent run FAILED with the error (alias, versions and Hub untouched)."""
    client = ctx.client()
    _best_effort(
        lambda: tracking.log_flat(
            client,
            ctx.parent_run_id,
            tags={"climb.error": f"{type(error).__name__}: {error}"[:4000]},
        ),
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


def as_json(obj: Any) -> Any:
    """Round-trip through JSON (what Prefect will persist and show)."""
    return json.loads(json.dumps(obj, default=str))
