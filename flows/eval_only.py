"""Evaluate one model on the leaderboard suite, as its own flow: the `eval-only-gpu` deployment
runs it on the GPU work pool, so the CPU-pool pipeline (or a person in the UI) can have a model
scored on a GPU pod and get the result back (`run_deployment`). Weights are read from the shared
PVC or the MLflow registry, never passed through Prefect.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from climb.pipeline import stages
from climb.pipeline.context import RunContext, finish_pipeline, start_pipeline


@task(name="evaluate_model", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def evaluate_model(ctx: RunContext, ref: dict[str, Any], role: str) -> dict[str, Any]:
    """Evaluate `ref` (path, name, digest, adapter_path) on the config's suite."""
    return stages.evaluate(ctx, ref, role)


@flow(name="eval_only")
def eval_only(
    model_path: str,
    model_name: str,
    weights_digest: str,
    adapter_path: str | None = None,
    role: str = "candidate",
    config_path: str = "/etc/climb/experiment/leaderboard.yaml",
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Score one model on the suite of `config_path`; return climb's result dict.

    model_path: base model folder (shared PVC); adapter_path: LoRA adapter folder, if any;
    weights_digest: identity of the weights (the evaluation cache key); role: candidate | base |
    champion (MLflow tag).
    """
    # This flow is the remote evaluator: it always evaluates here, never hands off again.
    ctx = start_pipeline(config_path, [*(overrides or []), "eval.runner=local"])
    ref = {
        "path": model_path,
        "name": model_name,
        "digest": weights_digest,
        "adapter_path": adapter_path,
    }
    result = evaluate_model(ctx, ref, role)
    finish_pipeline(ctx, {"eval_only": {"model": model_name, "average": result["average"]}})
    return result
