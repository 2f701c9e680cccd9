"""MLflow system metrics (CPU, memory, disk, network; GPU with pynvml) for a run given by id.

MLflow's SystemMetricsMonitor takes a run id and a tracking URI, so it works without a fluent
active run: wrap a stage's body with `monitor(run_id, uri)` and the samples land on that run as
`system/...` metrics. It samples the machine it runs on, so it belongs where the work runs (the
flow process for evaluation and a local launcher; the trainer pods on Kubernetes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def monitor(run_id: str, tracking_uri: str, interval_s: float = 10.0) -> Iterator[Any]:
    """Log system metrics to `run_id` every `interval_s` while the body runs; yield the monitor
    (None when psutil is missing: the body runs unmonitored, with a warning).
    """
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError as exc:  # psutil missing
        log.warning("system metrics disabled: %s", exc)
        yield None
        return
    # Its start/stop INFO lines would repeat on every stage of every run.
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    mon = SystemMetricsMonitor(
        run_id,
        sampling_interval=interval_s,
        samples_before_logging=1,
        tracking_uri=tracking_uri,
    )
    mon.start()
    try:
        yield mon
    finally:
        mon.finish()
