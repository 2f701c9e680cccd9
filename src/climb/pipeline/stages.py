"""One function per pipeline stage, named as the flow's task and the stage's MLflow run are:

    resolve_base_model -> prepare_data -> fine_tune -> evaluate_candidate -> evaluate_reference
    -> decide -> promote (which publishes, in a nested `publish` run, when the candidate won)

Each opens its nested MLflow run (`stage_run`), calls the module that does the work, logs what
it did and returns the record the next stage takes (climb.records).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from climb.config import EvalConfig
from climb.console import progress, step
from climb.data import prepare as data_prep
from climb.evaluate.runner import cached_result, evaluate_model
from climb.evaluate.suites import load_suite
from climb.launch.dispatch import launch
from climb.models import resolve_model, weights_digest
from climb.pipeline.context import RunContext, stage_run
from climb.records import (
    Candidate,
    Decision,
    EscalationStep,
    EvalResult,
    ModelRef,
    PreparedData,
    Reference,
    Release,
    ResolvedModel,
)
from climb.registry import decision as policy
from climb.registry import tags as T
from climb.registry import tracking, versions
from climb.secrets import redact
from climb.train.callbacks import parse_progress
from climb.train.spec import TrainSpec

log = logging.getLogger(__name__)

Role = Literal["candidate", "base", "champion"]
# remote(ref, role, limit, grow_from_limit): evaluate elsewhere, leave the result in the cache.
RemoteEval = Callable[[ModelRef, Role, int | None, int | None], None]


def resolve_base_model(ctx: RunContext) -> ResolvedModel:
    """Resolve (download / convert once) the base model; return where it is and its digest."""
    cfg = ctx.config
    with stage_run(ctx, "resolve_base_model") as run_id:
        start = time.perf_counter()
        model = resolve_model(cfg.model.base, ctx.state, cfg.model.display_name, cfg.model.revision)
        tracking.log_flat(
            ctx.client(),
            run_id,
            params={"base": cfg.model.base},
            tags={T.WEIGHTS_DIGEST: model.digest},
        )
    return model.model_copy(update={"seconds": time.perf_counter() - start})


def prepare_data(ctx: RunContext, base: ResolvedModel) -> PreparedData:
    """Prepare (or reuse) the tokenised dataset; log its report, its decontamination result and
    the dataset as an MLflow input whose digest is the dataset's version; return it."""
    from climb.data.lineage import log_dataset

    cfg = ctx.config
    with stage_run(ctx, "prepare_data") as run_id:
        data = data_prep.prepare_data(cfg.data, base.path, ctx.state, cfg.eval)
        client = ctx.client()
        report = data.report
        tracking.log_flat(
            client,
            run_id,
            params={"sources": [s.path for s in cfg.data.sources]},
            metrics={
                "examples": report.examples,
                "tokens": report.tokens,
                "trainable_tokens": report.trainable_tokens,
                "padding_ratio": report.packing.padding_ratio,
                "contaminated_examples": report.decontamination.contaminated_examples,
                **{f"skipped/{k}": v for k, v in report.skipped.items()},
            },
            tags={
                T.DATASET_DIGEST: data.digest,
                T.CACHED: data.cached,
                T.DATASET_URI: data.uri or data.path,
                T.DATA_CLEAN: data.clean,
            },
        )
        client.log_artifact(run_id, str(Path(data.path) / "manifest.json"))
        log_dataset(client, run_id, data, f"{cfg.name}-data")
        decon = report.decontamination
        step(
            "  data: %d of %d rows kept, %d tokens (%d trainable)%s; decontamination: %s",
            report.examples,
            report.rows_read,
            report.tokens,
            report.trainable_tokens,
            " (reused)" if data.cached else "",
            f"{decon.contaminated_examples} overlapping rows, {decon.action}"
            if decon.enabled
            else "not checked",
        )
        tracking.log_flat(
            client,
            ctx.parent_run_id,
            tags={T.DATASET_DIGEST: data.digest, T.DATA_CLEAN: data.clean},
        )
    return data


def fine_tune(ctx: RunContext, base: ResolvedModel, data: PreparedData) -> Candidate:
    """Fine-tune through the configured launcher; log the weights; return the candidate."""
    cfg = ctx.config
    with stage_run(ctx, "fine_tune") as run_id:
        client = ctx.client()
        tracking.log_flat(
            client,
            run_id,
            params=tracking.flatten("train", cfg.train.model_dump(mode="json"))
            | {"launcher.kind": cfg.launcher.kind, "launcher.nproc": cfg.launcher.nproc},
        )
        spec = TrainSpec(
            model_path=base.path,
            dataset_path=data.path,
            output_dir=str(Path(ctx.run_dir) / "train"),
            train=cfg.train.model_dump(mode="json"),
            mlflow_tracking_uri=ctx.tracking_uri,
            mlflow_run_id=run_id,
        )
        start = time.perf_counter()
        result = launch(spec, cfg.launcher, on_line=trainer_output)
        seconds = time.perf_counter() - start
        digest = hashlib.sha256(
            (base.digest + weights_digest(result.adapter_path)).encode()
        ).hexdigest()
        tracking.log_flat(
            client,
            run_id,
            metrics={
                "final/train_loss": result.train_loss,
                "final/tokens_per_s": result.tokens_per_s,
                "final/global_step": result.global_step,
            },
            tags={T.WEIGHTS_DIGEST: digest},
        )
        step(
            "  trained %s: %d steps, loss %.4f, %.0f tokens/s%s",
            result.method,
            result.global_step,
            result.train_loss,
            result.tokens_per_s,
            f" (resumed from {Path(result.resumed_from).name})" if result.resumed_from else "",
        )
        artifact = "adapter" if result.method != "full" else "model"
        tracking.log_artifacts(client, run_id, Path(result.adapter_path), artifact)
        merged = Path(spec.output_dir) / "merged"
        if cfg.train.merge_adapter and merged.is_dir():
            tracking.log_artifacts(client, run_id, merged, "merged")
    return Candidate(
        base=base,
        weights_path=result.adapter_path,
        method=result.method,
        digest=digest,
        source=f"runs:/{run_id}/{artifact}",
        train_run_id=run_id,
        train_loss=result.train_loss,
        first_loss=result.first_loss,
        last_loss=result.last_loss,
        tokens_per_s=result.tokens_per_s,
        global_step=result.global_step,
        resumed_from=result.resumed_from,
        seconds=seconds,
    )


Limit = int | Literal["full"] | None  # None: the config's eval.limit; "full": every document


def eval_config(ctx: RunContext, limit: Limit = None) -> EvalConfig:
    """The run's eval settings, at another limit for an escalation step."""
    if limit is None:
        return ctx.config.eval
    return ctx.config.eval.model_copy(update={"limit": None if limit == "full" else limit})


def trainer_output(line: str) -> None:
    """A line of the trainer's output: progress to the console, everything to the run's log."""
    figures = parse_progress(line)
    if figures is not None:
        progress(
            figures.pop("step", 0),
            figures.pop("of", None),
            "step",
            stage="fine_tune",
            **figures,
        )
    logging.getLogger("climb.train.output").info("%s", redact(line))


def evaluate(
    ctx: RunContext,
    ref: ModelRef,
    role: Role,
    remote: RemoteEval | None = None,
    fetch: Callable[[], ModelRef] | None = None,
    limit: Limit = None,
    grow_from: EvalResult | None = None,
) -> EvalResult:
    """Evaluate a model on the suite, with the cache, in the stage run of its role
    (`evaluate_candidate`, else `evaluate_reference`); return the EvalResult.

    `fetch()`, when given, is called only on a cache miss and returns the ref with its weights
    in place (a champion's are downloaded from the registry then). `remote(ref, role, limit,
    grow_from_limit)`, when given, evaluates elsewhere (the eval deployment on a GPU pod) and
    must leave the result in the shared cache, from which it is read here. `limit` evaluates at
    an escalation step's limit; `grow_from` (the same model at a smaller limit) is reused: only
    the documents it lacks are scored.
    """
    settings = eval_config(ctx, limit)
    stage = "evaluate_candidate" if role == "candidate" else "evaluate_reference"
    with stage_run(ctx, stage) as run_id:
        out_dir = Path(ctx.run_dir) / f"eval-{role}" / f"limit-{settings.limit or 'full'}"
        result = cached_result(ref, settings, ctx.state)
        if result is None:
            ref = fetch() if fetch is not None else ref
            if remote is not None:
                remote(ref, role, settings.limit, grow_from.limit if grow_from else None)
            result = evaluate_model(
                ref,
                settings,
                ctx.state,
                out_dir,
                use_cache=remote is not None,
                cache_only=bool(remote),
                grow_from=grow_from,
            )
        if grow_from is not None:
            log.info(
                "escalation: %s at limit %s scored %d more documents (%d reused) in %.1fs",
                role,
                settings.limit or "full",
                result.evaluated_documents,
                grow_from.documents_scored,
                result.seconds,
            )
        _log_evaluation(ctx, run_id, role, ref, result, out_dir)
        se = result.average_stderr()
        step(
            "  %s: average %.2f ± %s on %d documents (limit %s)%s",
            role,
            result.average,
            f"{se:.2f}" if se is not None else "?",
            result.documents_scored,
            result.limit or "none",
            " (cached)" if result.cached else "",
        )
    return result


def _log_evaluation(
    ctx: RunContext, run_id: str, role: Role, ref: ModelRef, result: EvalResult, out_dir: Path
) -> None:
    """Scores (suite scale) with standard errors, documents, and the evaluation's files."""
    client = ctx.client()
    metrics = {f"score/{k}": result.points(k) for k in result.tasks}
    metrics |= {
        f"stderr/{k}": se for k in result.tasks if (se := result.stderr_points(k)) is not None
    }
    metrics["average"] = result.average
    if (avg_se := result.average_stderr()) is not None:
        metrics["average_stderr"] = avg_se
    metrics["documents"] = result.documents_scored
    metrics["evaluated_documents"] = result.evaluated_documents
    metrics["limit"] = float(result.limit or 0)
    tracking.log_flat(
        client,
        run_id,
        metrics=metrics,
        tags={
            T.ROLE: role,
            T.WEIGHTS_DIGEST: ref.digest,
            T.CACHED: result.cached,
            T.DATA_SOURCE: result.data_source,
            T.DEVIATIONS: "; ".join(result.deviations),
        },
    )
    if out_dir.is_dir():
        tracking.log_artifacts(client, run_id, out_dir, "eval")


def evaluate_candidate(
    ctx: RunContext,
    candidate: Candidate,
    remote: RemoteEval | None = None,
    limit: Limit = None,
    previous: EvalResult | None = None,
) -> EvalResult:
    """Evaluate the trained candidate on the suite (at an escalation step's `limit`, growing
    its `previous` result); return its EvalResult."""
    return evaluate(
        ctx, candidate.model_ref(), "candidate", remote, limit=limit, grow_from=previous
    )


def evaluate_reference(
    ctx: RunContext,
    base: ResolvedModel,
    remote: RemoteEval | None = None,
    limit: Limit = None,
    previous: Reference | None = None,
) -> Reference:
    """Return what the candidate must beat, evaluated the way this run measures: the champion
    (from the evaluation cache by its weights digest, else its weights are downloaded from the
    registry and evaluated), or, with no champion yet, the base model. At an escalation step,
    the same reference as `previous`, grown to `limit`."""
    cfg = ctx.config
    client, model = ctx.client(), cfg.promotion.registered_model
    grow = previous.result if previous is not None else None
    if previous is None:
        champ = versions.get_champion(client, model)
    elif previous.kind == "champion" and previous.version:
        champ = versions.get_version(client, model, previous.version)  # the one decided against
    else:
        champ = None
    if champ is None:
        ref = ModelRef(path=base.path, name=base.name, digest=base.digest)
        return Reference(kind="base", result=evaluate(ctx, ref, "base", remote, None, limit, grow))
    found = champ
    lookup = ModelRef(path="", name=f"{model}@champion", digest=found.weights_digest)

    def fetch() -> ModelRef:
        log.info("champion v%s: no cached evaluation measured this way; evaluating", found.version)
        weights = tracking.download(client, found.source, Path(ctx.run_dir) / "champion")
        if found.method == "full":
            return lookup.model_copy(update={"path": weights})
        champ_base = resolve_model(found.tags.get(T.BASE_MODEL_URI, cfg.model.base), ctx.state)
        return lookup.model_copy(update={"path": champ_base.path, "adapter_path": weights})

    result = evaluate(ctx, lookup, "champion", remote, fetch, limit, grow)
    return Reference(kind="champion", version=found.version, result=result)


def step_record(
    result: EvalResult, reference: Reference, decision: Decision, started: float
) -> EscalationStep:
    """What one escalation step cost (documents scored now, wall seconds since `started`) and
    what it decided."""
    ref = reference.result
    return EscalationStep(
        limit=result.limit,
        candidate_documents=result.evaluated_documents,
        reference_documents=ref.evaluated_documents if ref else 0,
        seconds=time.perf_counter() - started,
        outcome=decision.outcome,
    )


def escalation_steps(ctx: RunContext, result: EvalResult) -> list[Limit]:
    """The escalation limits still above the limit `result` was measured at (in order)."""
    steps: list[Limit] = []
    for limit in ctx.config.escalation():
        if result.limit is not None and (limit is None or limit > result.limit):
            steps.append("full" if limit is None else limit)
    return steps


def decide(
    ctx: RunContext, result: EvalResult, reference: Reference, data: PreparedData
) -> Decision:
    """Apply the promotion policy to the candidate's and the reference's results (and the data
    stage's decontamination verdict); log the decision on the parent run; return it."""
    ref_scores = reference.result
    decision = policy.decide(
        result,
        ref_scores,
        ctx.config.promotion,
        load_suite(ctx.config.eval.suite),
        reference_kind="champion" if reference.kind == "champion" else "base",
        contamination_clean=data.clean,
    )
    metrics = {
        "candidate/average": result.average,
        "reference/average": ref_scores.average if ref_scores else float("nan"),
        "decision/promote": float(decision.promote),
        "decision/limit": float(result.limit or 0),
    }
    if decision.comparison is not None:
        c = decision.comparison
        metrics |= {"gain/average": c.average.gain, "gain/average_low": c.average.low}
        metrics |= {"gain/average_high": c.average.high, "gain/documents": c.paired_documents}
        for task, iv in c.tasks.items():
            metrics |= {f"gain/{task}": iv.gain, f"gain/{task}_low": iv.low}
            metrics[f"gain/{task}_high"] = iv.high
    step("  decision: %s - %s", decision.outcome.replace("_", " "), "; ".join(decision.reasons))
    tracking.log_flat(
        ctx.client(),
        ctx.parent_run_id,
        metrics=metrics,
        tags={
            T.DECISION: decision.outcome,
            T.DECISION_REASONS: " | ".join(decision.reasons),
            T.REFERENCE: reference.label,
        },
    )
    return decision


def promote(
    ctx: RunContext,
    candidate: Candidate,
    result: EvalResult,
    reference: Reference,
    decision: Decision,
    data: PreparedData,
) -> Release:
    """Register the candidate as a model version; if the decision says so, publish it and then
    move `champion` to it, under the promotion lock and re-checked against the champion of that
    moment (climb.registry.champion.release). Otherwise it becomes `challenger`.

    Returns the Release. Raises when publishing fails: the version stays registered, the alias
    does not move.
    """
    from climb.pipeline.promote import promote_candidate

    with stage_run(ctx, "promote") as run_id:
        return promote_candidate(ctx, run_id, candidate, result, reference, decision, data)
