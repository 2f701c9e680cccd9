"""The body of the promote stage: register the candidate, and when it won, publish it and move
`champion` to it under the promotion lock (climb.registry.champion.release), re-checked against
the champion of that moment. A candidate that does not become champion is `challenger`.

Order: publish first, then move the alias, both under the lock. A failed push (after its
retries) raises and leaves the alias on the previous, published champion; the Hub commit is
atomic, so the repo holds the old model or the new one, never a mix. See docs/registry.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from climb.config import ExperimentConfig
from climb.console import step
from climb.evaluate.runner import cached_result
from climb.evaluate.suites import load_suite
from climb.pipeline.context import RunContext, stage_run
from climb.pipeline.plots import history_chart, scores_chart
from climb.publish.repo import assemble, publish_weights
from climb.publish.target import publish_folder
from climb.records import (
    Candidate,
    Decision,
    EvalResult,
    ModelRef,
    PreparedData,
    PublishResult,
    Reference,
    Release,
)
from climb.registry import tags as T
from climb.registry import tracking, versions
from climb.registry.champion import ChampionChange, history, release
from climb.registry.decision import recheck

log = logging.getLogger(__name__)


def publish_candidate(
    ctx: RunContext,
    candidate: Candidate,
    result: EvalResult,
    reasons: list[str],
    data_sources: list[str],
) -> PublishResult:
    """Build the repo folder of the candidate and push it (or write the outbox), in its own
    `publish` stage run; return where it went. Raises PublishError on failure."""
    cfg = ctx.config
    with stage_run(ctx, "publish") as run_id:
        work = Path(ctx.run_dir)
        weights, library = publish_weights(
            cfg.publish, candidate.method, candidate.base.path, candidate.weights_path, work
        )
        folder = work / "publish"
        digest = assemble(
            cfg.publish,
            folder,
            weights_dir=weights,
            library_name=library,
            base_model=candidate.base.name,
            result=result,
            config_yaml=ctx.config_yaml(),
            reasons=reasons,
            source_paths=data_sources,
        )
        published = publish_folder(cfg.publish, folder, digest, ctx.state)
        tracking.log_flat(
            ctx.client(),
            run_id,
            tags={
                T.PUBLISH_MODE: published.mode,
                T.PUBLISH_LOCATION: published.location,
                T.PUBLISH_DIGEST: published.digest,
                T.PUBLISH_COMMIT: published.commit or "",
                T.PUBLISH_ATTEMPTS: published.attempts,
            },
        )
    return published


def promote_candidate(
    ctx: RunContext,
    run_id: str,
    candidate: Candidate,
    result: EvalResult,
    reference: Reference,
    decision: Decision,
    data: PreparedData,
) -> Release:
    """The body of the promote stage (see the module docstring); returns the Release."""
    cfg = ctx.config
    client = ctx.client()
    name = cfg.promotion.registered_model
    provenance = ctx.provenance | {T.DATASET_DIGEST: data.digest}
    tags = versions.version_tags(candidate, result, provenance, ctx.parent_run_id)
    version = versions.register_version(
        client, name, candidate.source, candidate.train_run_id, tags
    )
    reasons = "; ".join(decision.reasons)
    outcome = ChampionChange(
        promoted=False, version=version, previous=reference.version, reason=reasons
    )
    if decision.promote:
        suite = load_suite(cfg.eval.suite)
        measured = cfg.eval.model_copy(update={"limit": result.limit})

        def accept(current: versions.RegisteredVersion | None) -> tuple[bool, str]:
            evaluation = None
            if current is not None and current.version != reference.version:
                ref = ModelRef(
                    path="", name=f"{name} v{current.version}", digest=current.weights_digest
                )
                evaluation = cached_result(ref, measured, ctx.state)
            return recheck(
                result,
                reference.version,
                current.version if current else None,
                evaluation,
                cfg.promotion,
                suite,
                data.clean,
            )

        def publish() -> PublishResult:
            sources = [s.path for s in cfg.data.sources]
            return publish_candidate(ctx, candidate, result, decision.reasons, sources)

        try:
            outcome = release(
                client,
                name,
                version,
                accept=accept,
                publish=publish if cfg.publish.enabled else None,
                kind="pipeline",
                by=f"pipeline {ctx.parent_run_id}",
                reason=reasons,
                run_id=ctx.parent_run_id,
                timeout_s=cfg.promotion.lock_timeout_s,
                stale_s=cfg.promotion.lock_stale_s,
            )
        except Exception as exc:
            _mark_failed(client, name, version, exc)
            raise
    if not outcome.promoted:
        client.set_registered_model_alias(name, versions.CHALLENGER, version)
    elif T.PROMOTION_ERROR in versions.get_version(client, name, version).tags:
        client.delete_model_version_tag(name, version, T.PROMOTION_ERROR)  # a retry won
    publication = outcome.publish or _not_published(cfg, outcome, client, name, version)
    done = {T.VERSION: version, T.PROMOTED: outcome.promoted, T.PROMOTION_REASON: outcome.reason}
    tracking.log_flat(client, run_id, tags=done)
    tracking.log_flat(client, ctx.parent_run_id, tags=done)
    log_plots(ctx, result, reference)
    held = "champion" if outcome.promoted else "challenger"
    step("  registry: %s version %s is %s (%s)", name, version, held, outcome.reason)
    step("  publish: %s: %s", publication.mode, publication.message)
    return Release(
        registered_model=name,
        version=version,
        promoted=outcome.promoted,
        reason=outcome.reason,
        publish=publication,
    )


def _not_published(
    cfg: ExperimentConfig, outcome: ChampionChange, client: Any, name: str, version: str
) -> PublishResult:
    if not outcome.promoted:
        return PublishResult(mode="skipped", message=f"not promoted: {outcome.reason}")
    if not cfg.publish.enabled:
        return PublishResult(mode="skipped", message="publish.enabled is false")
    earlier = versions.published_record(versions.get_version(client, name, version))
    if earlier is not None:  # promoted and published by an earlier attempt of this same run
        return earlier
    return PublishResult(mode="skipped", message=outcome.reason)


def _mark_failed(client: Any, name: str, version: str, exc: BaseException) -> None:
    try:
        client.set_model_version_tag(
            name, version, T.PROMOTION_ERROR, f"{type(exc).__name__}: {exc}"[:4000]
        )
        client.set_registered_model_alias(name, versions.CHALLENGER, version)
    except Exception:  # MLflow itself may be what failed; the error is raised anyway
        log.warning("could not record the promotion failure on %s v%s", name, version)


def log_plots(ctx: RunContext, result: EvalResult, reference: Reference) -> None:
    """Log the candidate-vs-reference chart (with error bars) and the champion history plot to
    the parent run; a plot that cannot be drawn is logged as a warning, never an error."""
    cfg = ctx.config
    out = Path(ctx.run_dir) / "plots"
    client = ctx.client()
    try:
        scores_chart(result, reference.result, reference.label, out / "scores.png")
        events = history(client, cfg.promotion.registered_model)
        history_chart(events, out / "champion_history.png", cfg.promotion.registered_model)
        client.log_artifacts(ctx.parent_run_id, str(out), artifact_path="plots")
    except Exception as exc:  # plots never fail a promotion that already happened
        log.warning("could not draw or log the plots: %s", exc)
