"""System metrics on a run given by id (no fluent active run), as the stages would use them.
Starts: nothing (MLflow on SQLite in a temporary folder)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.stages import sqlite_copy, sqlite_template

from climb.registry.sysmetrics import monitor
from climb.registry.tracking import client_for, start_run

pytestmark = pytest.mark.integration


def test_monitor_logs_system_metrics_to_the_run(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    uri = sqlite_copy(sqlite_template(tmp_path_factory.getbasetemp()), tmp_path)
    client = client_for(uri)
    exp = client.create_experiment("sys", artifact_location=(tmp_path / "a").as_uri())
    run_id = start_run(client, exp, "evaluate_candidate")
    with monitor(run_id, uri, interval_s=0.5) as mon:
        assert mon is not None
        time.sleep(2.5)
    metrics = client.get_run(run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert "system/system_memory_usage_megabytes" in metrics
    history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert len(history) >= 2
