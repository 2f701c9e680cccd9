"""The leaderboard pipeline: prepare -> fine-tune -> evaluate -> compare -> promote -> publish.

Run it with `climb run CONFIG [key=value ...]`, from the Prefect UI (deployment parameters
form), or on the schedules in prefect.yaml.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from climb.pipeline.context import fail_pipeline, finish_pipeline
from climb.pipeline.stages import escalation_steps, step_record
from climb.records import EscalationStep, RunSummary, StageTimings
from climb.registry.tracking import run_url
from climb.secrets import install_log_redaction
from flows.tasks import (
    decide,
    evaluate_candidate,
    evaluate_reference,
    fine_tune,
    link_mlflow,
    mlflow_ui,
    prepare_data,
    promote,
    report,
    resolve_base_model,
    start,
)


@flow(name="leaderboard_pipeline")
def leaderboard_pipeline(
    config_path: str = "config/demo.yaml", overrides: list[str] | None = None
) -> RunSummary:
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
        reference = evaluate_reference(ctx, base)
        decision = decide(ctx, result, reference, data)
        eval_seconds = [result.seconds, reference.seconds]
        escalation: list[EscalationStep] = []
        for limit in escalation_steps(ctx, result):  # more documents while inconclusive
            if decision.outcome != "inconclusive":
                break
            t_step = time.perf_counter()
            result = evaluate_candidate(ctx, candidate, limit, result)
            reference = evaluate_reference(ctx, base, limit, reference)
            decision = decide(ctx, result, reference, data)
            escalation.append(step_record(result, reference, decision, t_step))
            eval_seconds = [eval_seconds[0] + result.seconds, eval_seconds[1] + reference.seconds]
        release = promote(ctx, candidate, result, reference, decision, data)  # publishes if won
    except BaseException as exc:
        fail_pipeline(ctx, exc)
        raise
    summary = RunSummary(
        name=ctx.config.name,
        candidate=candidate,
        data=data,
        candidate_result=result.compact(),
        reference_kind=reference.kind,
        reference_version=reference.version,
        reference_result=reference.result.compact() if reference.result else None,
        decision=decision,
        escalation=escalation,
        release=release,
        mlflow_run_url=run_url(mlflow_ui(ctx.tracking_uri), ctx.experiment_id, ctx.parent_run_id),
        prefect_flow_run_url=flow_run.ui_url,
        timings=StageTimings(
            resolve_base_model=base.seconds,
            prepare_data=data.seconds,
            fine_tune=candidate.seconds,
            evaluate_candidate=eval_seconds[0],
            evaluate_reference=eval_seconds[1],
        ),
        total_seconds=time.perf_counter() - t0,
    )
    report(summary)
    finish_pipeline(ctx, summary)
    return summary
