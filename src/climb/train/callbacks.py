"""Trainer callbacks: throughput (real tokens/s, step time, MFU, GPU memory) and MLflow logging
from rank 0 only.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from transformers import TrainerCallback

# Dense bf16 peak per GPU (TFLOP/s), the denominator of MFU. CLIMB_PEAK_TFLOPS overrides.
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
}


def peak_flops() -> float | None:
    """Return this device's dense bf16 peak in FLOP/s, or None when unknown (e.g. CPU)."""
    env = os.environ.get("CLIMB_PEAK_TFLOPS")
    if env:
        return float(env) * 1e12
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def flops_per_token(model: Any, method: str) -> float:
    """Model FLOPs per trained token: 6N for full fine-tuning, 4N with frozen base weights."""
    n = sum(p.numel() for p in model.parameters())
    return (6.0 if method == "full" else 4.0) * n


class ThroughputCallback(TrainerCallback):
    """Adds tokens_per_s, step_time_s, mfu and gpu_mem_gb to each log (non-padding tokens)."""

    def __init__(self, model: Any = None, method: str = "lora") -> None:
        self._t0: float | None = None
        self._tokens0 = 0
        self._step0 = 0
        self._session_tokens0 = 0
        self.losses: list[float] = []
        self.flops_per_token = flops_per_token(model, method) if model is not None else None
        self.peak = peak_flops()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the clocks (after a resume, counters continue from the checkpoint)."""
        self._t0 = time.perf_counter()
        self._tokens0 = self._session_tokens0 = state.num_input_tokens_seen
        self._step0 = state.global_step
        self.world = max(1, int(getattr(args, "world_size", 1)))

    def tokens_per_s(self, tokens_total: int, seconds: float) -> float:
        """Real tokens per second over this session (tokens before a resume excluded)."""
        return (tokens_total - self._session_tokens0) / max(seconds, 1e-9)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        """Add throughput figures to the Trainer's log dict."""
        if logs is None or self._t0 is None:
            return
        now = time.perf_counter()
        steps = state.global_step - self._step0
        if steps > 0:
            rate = (state.num_input_tokens_seen - self._tokens0) / max(now - self._t0, 1e-9)
            logs["tokens_per_s"] = rate
            logs["step_time_s"] = (now - self._t0) / steps
            if self.peak and self.flops_per_token:
                logs["mfu"] = rate * self.flops_per_token / (self.peak * self.world)
            self._t0, self._tokens0, self._step0 = (
                now,
                state.num_input_tokens_seen,
                state.global_step,
            )
        import torch

        if torch.cuda.is_available():
            logs["gpu_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
        if "loss" in logs:
            self.losses.append(float(logs["loss"]))


PROGRESS_PREFIX = "climb.progress "


class ProgressLines(TrainerCallback):
    """Rank 0 prints one `climb.progress {json}` line per log: step of max_steps, loss and
    tokens/s. The launcher reads them from the trainer's output and shows live progress; the
    rest of the trainer's output goes to the run's log file."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        """Print the progress line of this log (main process only)."""
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        line = {"step": state.global_step, "of": state.max_steps, "loss": float(logs["loss"])}
        if isinstance(logs.get("tokens_per_s"), int | float):
            line["tokens_per_s"] = float(logs["tokens_per_s"])
        print(PROGRESS_PREFIX + json.dumps(line), flush=True)


def parse_progress(line: str) -> dict[str, float] | None:
    """The progress figures of a `climb.progress {json}` trainer line, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        data = json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the run is diverging or the inputs are bad."""


class FailOnNonFiniteLoss(TrainerCallback):
    """Stops training with an error as soon as a logged loss or grad norm is NaN or infinite."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        """Raise NonFiniteLossError on a non-finite loss / grad_norm."""
        for key in ("loss", "grad_norm"):
            value = (logs or {}).get(key)
            if isinstance(value, int | float) and not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{key} is {value} at step {state.global_step}: training diverged (lower "
                    "train.lr, check the data) - no adapter was saved"
                )


class MlflowMetricsCallback(TrainerCallback):
    """Logs numeric Trainer logs to an existing MLflow run, from the main process only."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = run_id

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        """Send the numeric entries of a log to MLflow at the current global step."""
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
