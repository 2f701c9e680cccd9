"""Prefect tasks: each one line into src/climb's stages, with the retries that stage deserves.

climb does its own content-addressed caching (converted models, prepared data, evaluation
results keyed by weights digest), so Prefect's input caching is off.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from climb.pipeline import stages
from climb.pipeline.context import RunContext, start_pipeline
from climb.pipeline.summary import decision_markdown
from climb.registry.tracking import run_url


@task(name="start", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def start(
    config_path: str, overrides: list[str], flow_run_id: str | None, flow_run_url: str | None
) -> RunContext:
    """Validate the config and open the pipeline's MLflow parent run."""
    return start_pipeline(config_path, overrides, flow_run_id, flow_run_url)


@task(name="resolve_base_model", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def resolve_base_model(ctx: RunContext) -> dict[str, Any]:
    """Download / convert the base model once."""
    return stages.resolve_base(ctx)


@task(name="prepare_data", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def prepare_data(ctx: RunContext, base: dict[str, Any]) -> dict[str, Any]:
    """Prepare the tokenised dataset (reused when inputs are unchanged)."""
    return stages.prepare(ctx, base)


@task(name="fine_tune", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def fine_tune(ctx: RunContext, base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Train the candidate; a retry resumes from the newest checkpoint."""
    return stages.train(ctx, base, data)


def remote_evaluator(ctx: RunContext) -> stages.RemoteEval | None:
    """With `eval.runner: deployment`, a function that runs the eval deployment (a GPU pod in the
    cluster) for one model and waits for it; None to evaluate in this process."""
    cfg = ctx.config
    if cfg.eval.runner != "deployment":
        return None

    def run(ref: dict[str, Any], role: str) -> None:
        from prefect.deployments import run_deployment

        flow_run = run_deployment(
            cfg.eval.deployment,
            parameters={
                "model_path": ref["path"],
                "model_name": ref["name"],
                "weights_digest": ref["digest"],
                "adapter_path": ref.get("adapter_path"),
                "role": role,
                "config_path": ctx.config_path,
                "overrides": [*ctx.overrides, "eval.runner=local"],
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


@task(name="evaluate_candidate", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def evaluate_candidate(ctx: RunContext, candidate: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the candidate on the suite."""
    ref = stages.candidate_ref(candidate)
    return stages.evaluate(ctx, ref, "candidate", remote_evaluator(ctx))


@task(name="reference_scores", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def reference_scores(ctx: RunContext, base: dict[str, Any]) -> dict[str, Any]:
    """The champion's scores (cached when possible), else the base model's."""
    return stages.champion_reference(ctx, base, remote_evaluator(ctx))


@task(name="decide", cache_policy=NO_CACHE)
def decide(ctx: RunContext, candidate: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Apply the promotion policy."""
    return stages.decide_promotion(ctx, candidate, reference)


@task(name="promote", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def promote(
    ctx: RunContext,
    candidate: dict[str, Any],
    result: dict[str, Any],
    reference: dict[str, Any],
    decision: dict[str, Any],
) -> dict[str, Any]:
    """Register the candidate; if it won: publish, then move the champion alias (compare-and-set
    under the promotion lock; the Hub push retries on its own, a task retry is idempotent)."""
    return stages.register_and_promote(ctx, candidate, result, decision, reference)


def link_mlflow(ctx: RunContext) -> None:
    """Link this flow run to its MLflow parent run (a Prefect link artifact)."""
    create_link_artifact(
        link=run_url(mlflow_ui(ctx.tracking_uri), ctx.experiment_id, ctx.parent_run_id),
        link_text="MLflow run",
        key="mlflow-run",
        description="The MLflow parent run of this pipeline run (stages are nested runs).",
    )


def report(summary: dict[str, Any]) -> None:
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
