"""Evaluate one model on the leaderboard suite, as its own flow: the `eval-only-gpu` deployment
runs it on the GPU work pool, so the CPU-pool pipeline (or a person in the UI) can have a model
scored on a GPU pod and get the result back (`run_deployment`; the result lands in the shared
evaluation cache). Weights are read from the shared PVC or the MLflow registry, never passed
through Prefect.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from climb.config import load_config, load_config_text
from climb.evaluate.runner import cached_result
from climb.pipeline import stages
from climb.pipeline.context import RunContext, close_run, open_run
from climb.records import EvalResult, ModelRef


@task(name="evaluate_model", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def evaluate_model(
    ctx: RunContext, ref: ModelRef, role: stages.Role, grow_from: EvalResult | None
) -> EvalResult:
    """Evaluate `ref` on the config's suite (growing a smaller-limit result when given)."""
    return stages.evaluate(ctx, ref, role, grow_from=grow_from)


@flow(name="eval_only")
def eval_only(
    model_path: str,
    model_name: str,
    weights_digest: str,
    adapter_path: str | None = None,
    role: stages.Role = "candidate",
    config_path: str = "/etc/climb/experiment/leaderboard.yaml",
    overrides: list[str] | None = None,
    config_yaml: str | None = None,
    grow_from_limit: int | None = None,
) -> EvalResult:
    """Score one model on the suite of the config; return its EvalResult.

    model_path: base model folder (shared PVC); adapter_path: LoRA adapter folder, if any;
    weights_digest: identity of the weights (the evaluation cache key); role: candidate | base |
    champion (MLflow tag). config_yaml: the calling run's config snapshot (the pipeline passes
    it, so the evaluation measures exactly as the run does); else config_path is read.
    grow_from_limit: an escalation step; the model's cached result at this smaller limit is
    reused and only the documents it lacks are scored.
    """
    # This flow is the remote evaluator: it always evaluates here, never hands off again.
    extra = [*(overrides or []), "eval.runner=local"]
    if config_yaml is not None:
        cfg = load_config_text(config_yaml, extra, "the calling run's config")
    else:
        cfg = load_config(config_path, extra)
    ctx = open_run(cfg, config_path if config_yaml is None else "<snapshot>", extra)
    ref = ModelRef(
        path=model_path, name=model_name, digest=weights_digest, adapter_path=adapter_path
    )
    grow = None
    if grow_from_limit is not None:
        smaller = ctx.config.eval.model_copy(update={"limit": grow_from_limit})
        grow = cached_result(ref, smaller, ctx.state)
    result = evaluate_model(ctx, ref, role, grow)
    close_run(ctx)
    return result
