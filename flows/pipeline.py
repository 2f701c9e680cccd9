"""The leaderboard pipeline: prepare -> fine-tune -> evaluate -> compare -> promote -> publish.

Run it with `climb run CONFIG [key=value ...]`, from the Prefect UI (deployment parameters
form), or on the schedules in prefect.yaml.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from climb.pipeline.context import fail_pipeline, finish_pipeline
from climb.registry.tracking import run_url
from climb.secrets import install_log_redaction
from flows.tasks import (
    decide,
    evaluate_candidate,
    fine_tune,
    link_mlflow,
    mlflow_ui,
    prepare_data,
    promote,
    reference_scores,
    report,
    resolve_base_model,
    start,
)


@flow(name="leaderboard_pipeline")
def leaderboard_pipeline(
    config_path: str = "config/demo.yaml", overrides: list[str] | None = None
) -> dict[str, Any]:
    """Fine-tune a base model and promote it if it beats the champion; return the run summary.

    config_path: experiment YAML (see config/). overrides: dotted `key=value` items, e.g.
    ["train.lr=1e-4", "eval.limit=20"].
    """
    t0 = time.perf_counter()
    install_log_redaction()
    ctx = start(config_path, overrides or [], str(flow_run.id or ""), flow_run.ui_url)
    try:
        link_mlflow(ctx)
        base = resolve_base_model(ctx)
        data = prepare_data(ctx, base)
        launcher = ctx.config.launcher
        candidate = fine_tune.with_options(
            retries=launcher.retries, retry_delay_seconds=launcher.retry_delay_s
        )(ctx, base, data)
        result = evaluate_candidate(ctx, candidate)
        reference = reference_scores(ctx, base)
        decision = decide(ctx, result, reference)
        released = promote(ctx, candidate, result, reference, decision)  # publishes if it won
    except BaseException as exc:
        fail_pipeline(ctx, exc)
        raise
    ref_result = reference.get("result") or {}
    summary = {
        "name": ctx.config.name,
        "status": "completed",
        "candidate_result": result,
        "reference": reference,
        "decision": decision,
        "promotion": released["promotion"],
        "promotion_reason": released["reason"],
        "publish": released["publish"],
        "candidate": candidate,
        "data": data,
        "mlflow_run_url": run_url(
            mlflow_ui(ctx.tracking_uri), ctx.experiment_id, ctx.parent_run_id
        ),
        "prefect_flow_run_url": flow_run.ui_url,
        "timings": {
            "resolve_base_model": base["seconds"],
            "prepare_data": data["seconds"],
            "fine_tune": candidate["seconds"],
            "evaluate_candidate": result["seconds"],
            "evaluate_reference": 0.0
            if ref_result.get("cached", True)
            else ref_result.get("seconds", 0.0),
        },
        "total_seconds": time.perf_counter() - t0,
    }
    report(summary)
    finish_pipeline(ctx, summary)
    return summary
