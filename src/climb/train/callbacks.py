"""Trainer callbacks: throughput (real tokens/s, step time) and MLflow logging from rank 0 only."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback


class ThroughputCallback(TrainerCallback):
    """Adds tokens_per_s and step_time_s to each log (from the non-padding token count)."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._tokens0 = 0
        self._step0 = 0
        self.losses: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._t0, self._tokens0, self._step0 = (
            time.perf_counter(),
            state.num_input_tokens_seen,
            state.global_step,
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        if logs is None or self._t0 is None:
            return
        now = time.perf_counter()
        steps = state.global_step - self._step0
        if steps > 0:
            tokens = state.num_input_tokens_seen - self._tokens0
            logs["tokens_per_s"] = tokens / max(now - self._t0, 1e-9)
            logs["step_time_s"] = (now - self._t0) / steps
            self._t0, self._tokens0, self._step0 = (
                now,
                state.num_input_tokens_seen,
                state.global_step,
            )
        if "loss" in logs:
            self.losses.append(float(logs["loss"]))


class MlflowMetricsCallback(TrainerCallback):
    """Logs numeric Trainer logs to an existing MLflow run, from the main process only."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = run_id

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        metrics = [
            Metric(
                k.replace("train_", "train/") if k.startswith("train_") else k,
                float(v),
                ts,
                state.global_step,
            )
            for k, v in logs.items()
            if isinstance(v, int | float)
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)
