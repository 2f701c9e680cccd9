"""Prefect tasks: each one line into a stage of climb.pipeline.stages (same name), with the
retries that stage deserves. Tasks take and return the stage records of climb.records.

climb does its own content-addressed caching (converted models, prepared data, evaluation
results keyed by weights digest), so Prefect's input caching is off.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from climb.pipeline import stages
from climb.pipeline.context import RunContext, start_pipeline
from climb.pipeline.summary import decision_markdown
from climb.records import (
    Candidate,
    Decision,
    EvalResult,
    ModelRef,
    PreparedData,
    Reference,
    Release,
    ResolvedModel,
    RunSummary,
)
from climb.registry.tracking import run_url


@task(name="start", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def start(
    config_path: str, overrides: list[str], flow_run_id: str | None, flow_run_url: str | None
) -> RunContext:
    """Validate the config and open the pipeline's MLflow parent run."""
    return start_pipeline(config_path, overrides, flow_run_id, flow_run_url)


@task(name="resolve_base_model", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def resolve_base_model(ctx: RunContext) -> ResolvedModel:
    """Download / convert the base model once."""
    return stages.resolve_base_model(ctx)


@task(name="prepare_data", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def prepare_data(ctx: RunContext, base: ResolvedModel) -> PreparedData:
    """Prepare the tokenised dataset (reused when inputs are unchanged)."""
    return stages.prepare_data(ctx, base)


@task(name="fine_tune", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def fine_tune(ctx: RunContext, base: ResolvedModel, data: PreparedData) -> Candidate:
    """Train the candidate; a retry resumes from the newest checkpoint."""
    return stages.fine_tune(ctx, base, data)


@task(name="evaluate_candidate", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def evaluate_candidate(
    ctx: RunContext,
    candidate: Candidate,
    limit: stages.Limit = None,
    previous: EvalResult | None = None,
) -> EvalResult:
    """Evaluate the candidate on the suite (at an escalation step: grown to `limit`)."""
    return stages.evaluate_candidate(ctx, candidate, remote_evaluator(ctx), limit, previous)


@task(name="evaluate_reference", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def evaluate_reference(
    ctx: RunContext,
    base: ResolvedModel,
    limit: stages.Limit = None,
    previous: Reference | None = None,
) -> Reference:
    """The champion's evaluation (cached when possible), else the base model's."""
    return stages.evaluate_reference(ctx, base, remote_evaluator(ctx), limit, previous)


@task(name="decide", cache_policy=NO_CACHE)
def decide(
    ctx: RunContext, result: EvalResult, reference: Reference, data: PreparedData
) -> Decision:
    """Apply the promotion policy."""
    return stages.decide(ctx, result, reference, data)


@task(name="promote", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def promote(
    ctx: RunContext,
    candidate: Candidate,
    result: EvalResult,
    reference: Reference,
    decision: Decision,
    data: PreparedData,
) -> Release:
    """Register the candidate; if it won: publish, then move the champion alias (compare-and-set
    under the promotion lock; the Hub push retries on its own, a task retry is idempotent)."""
    return stages.promote(ctx, candidate, result, reference, decision, data)


def remote_evaluator(ctx: RunContext) -> stages.RemoteEval | None:
    """With `eval.runner: deployment`, a function that runs the eval deployment (a GPU pod in the
    cluster) for one model and waits for it; None to evaluate in this process. The deployment
    gets this run's config as validated at start (not the path: the file may have changed)."""
    cfg = ctx.config
    if cfg.eval.runner != "deployment":
        return None

    def run(
        ref: ModelRef, role: stages.Role, limit: int | None, grow_from_limit: int | None
    ) -> None:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment

        flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
            cfg.eval.deployment,
            parameters={
                "model_path": ref.path,
                "model_name": ref.name,
                "weights_digest": ref.digest,
                "adapter_path": ref.adapter_path,
                "role": role,
                "config_yaml": ctx.config_yaml(),
                "overrides": ["eval.runner=local", f"eval.limit={limit or 'null'}"],
                "grow_from_limit": grow_from_limit,
            },
            timeout=cfg.eval.deployment_timeout_s,
        )
        state = flow_run.state
        if state is None or not state.is_completed():
            raise RuntimeError(
                f"eval deployment {cfg.eval.deployment} run {flow_run.name} ended "
                f"{state.type.value if state else 'without a state'}: "
                f"{state.message if state else ''}"
            )

    return run


def link_mlflow(ctx: RunContext) -> None:
    """Link this flow run to its MLflow parent run (a Prefect link artifact)."""
    create_link_artifact(
        link=run_url(mlflow_ui(ctx.tracking_uri), ctx.experiment_id, ctx.parent_run_id),
        link_text="MLflow run",
        key="mlflow-run",
        description="The MLflow parent run of this pipeline run (stages are nested runs).",
    )


def report(summary: RunSummary) -> None:
    """Publish the promotion report (candidate vs reference per task, decision, why) as a
    Prefect markdown artifact of this flow run."""
    create_markdown_artifact(
        markdown=decision_markdown(summary),
        key="promotion-decision",
        description="Candidate vs reference per task, the promotion decision and its reasons.",
    )


def mlflow_ui(uri: str) -> str:
    """The MLflow UI address for a tracking URI (the local UI for a SQLite store)."""
    return uri if uri.startswith("http") else "http://127.0.0.1:5000"
