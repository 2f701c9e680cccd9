"""The promote stage of the pipeline: register the candidate, and when it won, publish it and
move `champion` to it under the promotion lock (climb.registry.champion.release), re-checked against
the champion of that moment. A candidate that does not become champion is `challenger`.

Order: publish first, then move the alias, both under the lock. A failed push (after its
retries) raises and leaves the alias on the previous, published champion; the Hub commit is
atomic, so the repo holds the old model or the new one, never a mix. See docs/tracking.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from climb.config import dump_config
from climb.pipeline.context import RunContext, stage_run
from climb.pipeline.plots import history_chart, scores_chart
from climb.publish.repo import assemble, publish_weights
from climb.publish.target import PublishResult, publish_folder
from climb.registry import tracking, versions
from climb.registry.champion import Release, history, release
from climb.registry.decision import Scores, recheck

log = logging.getLogger(__name__)
PROVENANCE = (
    "climb.config_hash",
    "climb.git_commit",
    "climb.dataset_digest",
    "climb.base_model_revision",
    "climb.lm_eval_version",
    "climb.launcher",
    "climb.prefect_flow_run_id",
)
RESULT_KEYS = (
    "suite",
    "suite_version",
    "protocol",
    "lm_eval_version",
    "limit",
    "data_source",
    "average",
    "deviations",
)


def compact_result(result: dict[str, Any]) -> str:
    """Return the suite result as the JSON stored on a version (`climb.result`, < 5000 chars)."""
    keep = {k: result.get(k) for k in RESULT_KEYS}
    keep["tasks"] = {
        k: {kk: v.get(kk) for kk in ("score", "stderr", "metric", "num_fewshot", "n")}
        for k, v in result["tasks"].items()
    }
    model = result.get("model") or {}
    keep["model"] = {k: model.get(k) for k in ("name", "digest", "dtype")}
    return json.dumps(keep, sort_keys=True)


def version_tags(
    ctx: RunContext, candidate: dict[str, Any], result: dict[str, Any]
) -> dict[str, str]:
    """Return the tags of a candidate's model version: scores and provenance."""
    parent_tags = ctx.client().get_run(ctx.parent_run_id).data.tags
    tags = {k: parent_tags[k] for k in PROVENANCE if parent_tags.get(k)}
    tags.update(
        {
            "climb.average": f"{result['average']:.6f}",
            "climb.result": compact_result(result),
            "climb.weights_digest": candidate["digest"],
            "climb.base_model": candidate["base_name"],
            "climb.base_model_uri": candidate["base_uri"],
            "climb.method": candidate["method"],
            "climb.suite": result["suite"],
            "climb.suite_version": str(result["suite_version"]),
            "climb.protocol": result["protocol"],
            "climb.limit": str(result.get("limit")),
            "climb.data_source": str(result.get("data_source")),
            "climb.train_run_id": candidate["train_run_id"],
            tracking.PIPELINE_RUN_TAG: ctx.parent_run_id,
        }
    )
    tags.update({f"climb.score.{k}": f"{100 * v['score']:.4f}" for k, v in result["tasks"].items()})
    return tags


def publish_candidate(
    ctx: RunContext, candidate: dict[str, Any], result: dict[str, Any], reasons: list[str]
) -> dict[str, Any]:
    """Build the repo folder of the candidate and push it (or write the outbox), in its own
    `publish` stage run; return the PublishResult dict. Raises PublishError on failure."""
    cfg = ctx.config
    with stage_run(ctx, "publish") as run_id:
        work = Path(ctx.run_dir)
        weights, library = publish_weights(
            cfg.publish,
            candidate["method"],
            candidate["base_path"],
            candidate["adapter_path"],
            work,
        )
        folder = work / "publish"
        digest = assemble(
            cfg.publish,
            folder,
            weights_dir=weights,
            library_name=library,
            base_model=candidate["base_name"],
            result=result,
            config_yaml=dump_config(cfg),
            reasons=reasons,
            source_paths=[s.path for s in cfg.data.sources],
        )
        published: PublishResult = publish_folder(cfg.publish, folder, digest, ctx.state)
        tracking.log_flat(
            ctx.client(),
            run_id,
            tags={
                "climb.publish_mode": published.mode,
                "climb.publish_location": published.location,
                "climb.publish_digest": published.digest,
                "climb.publish_commit": published.commit or "",
                "climb.publish_attempts": published.attempts,
            },
        )
    return published.to_dict()


def promote_candidate(
    ctx: RunContext,
    run_id: str,
    candidate: dict[str, Any],
    result: dict[str, Any],
    decision: dict[str, Any],
    reference: dict[str, Any],
) -> dict[str, Any]:
    """The body of the promote stage (see the module docstring); returns the stage's dict."""
    cfg = ctx.config
    client = ctx.client()
    name = cfg.promotion.registered_model
    version = versions.register_version(
        client,
        name,
        candidate["source"],
        candidate["train_run_id"],
        version_tags(ctx, candidate, result),
    )
    outcome = Release(False, version, reference.get("version"), "; ".join(decision["reasons"]))
    if decision["promote"]:
        cand = Scores.from_result(result)
        clean = client.get_run(ctx.parent_run_id).data.tags.get("climb.data_clean") != "False"

        def accept(current: versions.Champion | None) -> tuple[bool, str]:
            return recheck(
                cand,
                reference.get("version"),
                current.version if current else None,
                current.result if current else None,
                cfg.promotion,
                clean,
            )

        def publish() -> dict[str, Any]:
            return publish_candidate(ctx, candidate, result, decision["reasons"])

        try:
            outcome = release(
                client,
                name,
                version,
                accept=accept,
                publish=publish if cfg.publish.enabled else None,
                kind="pipeline",
                by=f"pipeline {ctx.parent_run_id}",
                reason="; ".join(decision["reasons"]),
                run_id=ctx.parent_run_id,
                timeout_s=cfg.promotion.lock_timeout_s,
                stale_s=cfg.promotion.lock_stale_s,
            )
        except Exception as exc:
            _mark_failed(client, name, version, exc)
            raise
    if not outcome.promoted:
        client.set_registered_model_alias(name, versions.CHALLENGER, version)
    elif "climb.promotion_error" in (client.get_model_version(name, version).tags or {}):
        client.delete_model_version_tag(name, version, "climb.promotion_error")  # retry won
    publication = outcome.publish or _not_published(cfg, outcome, client, name, version)
    tags = {
        "climb.version": version,
        "climb.promoted": outcome.promoted,
        "climb.promotion_reason": outcome.reason,
    }
    tracking.log_flat(client, run_id, tags=tags)
    tracking.log_flat(client, ctx.parent_run_id, tags=tags)
    log_plots(ctx, result, reference)
    return {
        "promotion": {"registered_model": name, "version": version, "promoted": outcome.promoted},
        "publish": publication,
        "reason": outcome.reason,
    }


def _not_published(
    cfg: Any, outcome: Release, client: Any, name: str, version: str
) -> dict[str, Any]:
    if not outcome.promoted:
        return PublishResult("skipped", "", "", False, f"not promoted: {outcome.reason}").to_dict()
    if not cfg.publish.enabled:
        return PublishResult("skipped", "", "", False, "publish.enabled is false").to_dict()
    raw = client.get_model_version(name, version).tags.get("climb.published")
    if raw:  # promoted and published by an earlier attempt of this same run
        return dict(json.loads(raw))
    return PublishResult("skipped", "", "", False, outcome.reason).to_dict()


def _mark_failed(client: Any, name: str, version: str, exc: BaseException) -> None:
    try:
        client.set_model_version_tag(
            name, version, "climb.promotion_error", f"{type(exc).__name__}: {exc}"[:4000]
        )
        client.set_registered_model_alias(name, versions.CHALLENGER, version)
    except Exception:  # MLflow itself may be what failed; the error is raised anyway
        log.warning("could not record the promotion failure on %s v%s", name, version)


def log_plots(ctx: RunContext, result: dict[str, Any], reference: dict[str, Any]) -> None:
    """Log the candidate-vs-reference bar chart and the champion history plot to the parent run."""
    cfg = ctx.config
    out = Path(ctx.run_dir) / "plots"
    label = reference.get("kind", "reference")
    if reference.get("version"):
        label += f" v{reference['version']}"
    client = ctx.client()
    try:
        scores_chart(result, reference.get("result"), label, out / "scores.png")
        events = history(client, cfg.promotion.registered_model)
        history_chart(events, out / "champion_history.png", cfg.promotion.registered_model)
        client.log_artifacts(ctx.parent_run_id, str(out), artifact_path="plots")
    except Exception as exc:  # plots never fail a promotion that already happened
        log.warning("could not draw or log the plots: %s", exc)
