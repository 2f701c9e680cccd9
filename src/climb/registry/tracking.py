"""MLflow tracking: the client, experiments, one parent run per pipeline run with nested stage
runs, batched params/metrics/tags, artifacts. Registered model versions live in
climb.registry.versions; moving the `champion` alias in climb.registry.champion.

Everything goes through an explicit MlflowClient and run ids, so it works the same from the flow
process, from Prefect task threads and from the trainer's rank-0 process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from climb.config import TrackingConfig
from climb.registry.tags import MLFLOW_PARENT
from climb.secrets import redact
from climb.state import StateDir


class RegistryError(RuntimeError):
    """The tracking server or registry refused an operation; the message says which."""


def tracking_uri(cfg: TrackingConfig, state: StateDir) -> str:
    """Return the tracking URI: config, else MLFLOW_TRACKING_URI, else SQLite in the state dir."""
    if cfg.uri:
        return cfg.uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    state.mlflow.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state.mlflow / 'mlflow.db'}"


def client_for(uri: str) -> Any:
    """Return an MlflowClient for tracking and registry at `uri`."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: Any, name: str, state: StateDir) -> str:
    """Return the id of experiment `name`, creating it (local artifact root for file stores)."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    location = None
    if str(client.tracking_uri).startswith("sqlite:"):
        location = (state.mlflow / "artifacts").resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # created concurrently by another pipeline
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def start_run(
    client: Any,
    experiment_id: str,
    name: str,
    tags: dict[str, str] | None = None,
    parent_id: str | None = None,
) -> str:
    """Create a run (nested under `parent_id` if given) and return its id."""
    all_tags = dict(tags or {})
    if parent_id:
        all_tags[MLFLOW_PARENT] = parent_id
    run = client.create_run(experiment_id, run_name=name, tags=all_tags)
    return str(run.info.run_id)


def log_flat(
    client: Any,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, Any] | None = None,
) -> None:
    """Log params, metrics and tags in one batch (values stringified, long params truncated)."""
    from mlflow.entities import Metric, Param, RunTag

    ts = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), ts, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, redact(str(v))[:6000]) for k, v in (params or {}).items()],
        tags=[RunTag(k, redact(str(v))[:5000]) for k, v in (tags or {}).items()],
    )


def flatten(prefix: str, data: Any) -> dict[str, Any]:
    """Flatten nested dicts into dotted keys (lists are JSON-encoded)."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: json.dumps(data) if isinstance(data, list) else data}


def run_url(ui_base: str, experiment_id: str, run_id: str) -> str:
    """Return the MLflow UI link of a run."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def download(client: Any, source: str, dst: Path) -> str:
    """Download the artifacts at `source` (a version's `runs:/...` URI) into `dst`; return the
    local folder."""
    from mlflow.artifacts import download_artifacts

    dst.mkdir(parents=True, exist_ok=True)
    return str(
        download_artifacts(artifact_uri=source, dst_path=str(dst), tracking_uri=client.tracking_uri)
    )


def log_artifacts(client: Any, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
    """Upload a folder's files as artifacts of `run_id`."""
    client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)
