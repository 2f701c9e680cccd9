"""One function per pipeline stage. Each runs inside its own nested MLflow run (see
`pipeline.stage_run`), calls the module that does the work, and returns a small dict.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from climb.data.prepare import prepare_data
from climb.evaluate.runner import ModelRef, evaluate_model
from climb.evaluate.suites import load_suite
from climb.launch.dispatch import launch
from climb.models import resolve_model, weights_digest
from climb.pipeline.context import RunContext, as_json, stage_run
from climb.registry import tracking, versions
from climb.registry.decision import Scores, decide
from climb.secrets import redact
from climb.train.spec import TrainSpec

log = logging.getLogger(__name__)


def resolve_base(ctx: RunContext) -> dict[str, Any]:
    """Resolve (download / convert once) the base model; return path, name and digest."""
    cfg = ctx.config
    with stage_run(ctx, "resolve_base_model") as run_id:
        start = time.perf_counter()
        model = resolve_model(cfg.model.base, ctx.state, cfg.model.display_name, cfg.model.revision)
        seconds = time.perf_counter() - start
        tracking.log_flat(
            ctx.client(),
            run_id,
            params={"base": cfg.model.base},
            tags={"climb.weights_digest": model.digest},
        )
    return {**model.to_dict(), "seconds": seconds}


def prepare(ctx: RunContext, base: dict[str, Any]) -> dict[str, Any]:
    """Prepare (or reuse) the tokenised dataset; log its report, its decontamination result (the
    promotion gate reads `climb.data_clean` on the parent run) and the dataset as an MLflow input
    whose digest is the dataset's version.
    """
    from climb.data.lineage import log_dataset

    cfg = ctx.config
    with stage_run(ctx, "prepare_data") as run_id:
        data = prepare_data(cfg.data, base["path"], ctx.state, cfg.eval)
        client = ctx.client()
        report = data.report
        decon = report["decontamination"]
        tracking.log_flat(
            client,
            run_id,
            params={"sources": [s.path for s in cfg.data.sources]},
            metrics={
                "examples": report["examples"],
                "tokens": report["tokens"],
                "trainable_tokens": report["trainable_tokens"],
                "padding_ratio": report["packing"]["padding_ratio"],
                "contaminated_examples": decon.get("contaminated_examples", 0),
                **{f"skipped/{k}": v for k, v in report["skipped"].items()},
            },
            tags={
                "climb.dataset_digest": data.digest,
                "climb.cached": data.cached,
                "climb.dataset_uri": data.uri or data.path,
                "climb.data_clean": decon["clean"],
            },
        )
        client.log_artifact(run_id, str(Path(data.path) / "manifest.json"))
        log_dataset(client, run_id, data.to_dict(), f"{cfg.name}-data")
        tracking.log_flat(
            client,
            ctx.parent_run_id,
            tags={"climb.dataset_digest": data.digest, "climb.data_clean": decon["clean"]},
        )
    return data.to_dict()


def train(ctx: RunContext, base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Fine-tune through the configured launcher; log the adapter; return the candidate."""
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
            model_path=base["path"],
            dataset_path=data["path"],
            output_dir=str(Path(ctx.run_dir) / "train"),
            train=cfg.train.model_dump(mode="json"),
            mlflow_tracking_uri=ctx.tracking_uri,
            mlflow_run_id=run_id,
        )
        start = time.perf_counter()
        result = launch(spec, cfg.launcher, on_line=lambda line: log.info("%s", redact(line)))
        seconds = time.perf_counter() - start
        digest = hashlib.sha256(
            (base["digest"] + weights_digest(result.adapter_path)).encode()
        ).hexdigest()
        tracking.log_flat(
            client,
            run_id,
            metrics={
                "final/train_loss": result.train_loss,
                "final/tokens_per_s": result.tokens_per_s,
                "final/global_step": result.global_step,
            },
            tags={"climb.weights_digest": digest},
        )
        artifact = "adapter" if result.method != "full" else "model"
        tracking.log_artifacts(client, run_id, Path(result.adapter_path), artifact)
        merged = Path(spec.output_dir) / "merged"
        if cfg.train.merge_adapter and merged.is_dir():
            tracking.log_artifacts(client, run_id, merged, "merged")
        source = f"runs:/{run_id}/{artifact}"
    return {
        "adapter_path": result.adapter_path,
        "base_path": base["path"],
        "base_name": base["name"],
        "base_uri": cfg.model.base,
        "digest": digest,
        "source": source,
        "train_run_id": run_id,
        "method": result.method,
        "train_loss": result.train_loss,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "tokens_per_s": result.tokens_per_s,
        "global_step": result.global_step,
        "resumed_from": result.resumed_from,
        "seconds": seconds,
    }


RemoteEval = Callable[[dict[str, Any], str], None]


def candidate_ref(candidate: dict[str, Any]) -> dict[str, Any]:
    """Return the model reference that evaluates a trained candidate (adapter on its base, or
    the full fine-tuned model on its own)."""
    full = candidate["method"] == "full"
    return {
        "path": candidate["adapter_path"] if full else candidate["base_path"],
        "name": f"{candidate['base_name']} + climb {candidate['method']}",
        "digest": candidate["digest"],
        "adapter_path": None if full else candidate["adapter_path"],
    }


def evaluate(
    ctx: RunContext, ref: dict[str, Any], role: str, remote: RemoteEval | None = None
) -> dict[str, Any]:
    """Evaluate a model (role: candidate | base | champion) on the suite, with the cache.

    `remote(ref, role)`, when given, evaluates elsewhere (e.g. the eval deployment on a GPU pod)
    and must leave the result in the shared cache, from which it is read here.
    """
    cfg = ctx.config
    with stage_run(ctx, f"evaluate_{role}") as run_id:
        model = ModelRef(
            path=ref["path"],
            name=ref["name"],
            digest=ref["digest"],
            adapter_path=ref.get("adapter_path"),
        )
        out_dir = Path(ctx.run_dir) / f"eval-{role}"
        if remote is not None:
            remote(ref, role)
        result = evaluate_model(model, cfg.eval, ctx.state, out_dir, cache_only=remote is not None)
        client = ctx.client()
        metrics = {f"score/{k}": 100 * v["score"] for k, v in result["tasks"].items()}
        metrics["average"] = result["average"]
        tracking.log_flat(
            client,
            run_id,
            metrics=metrics,
            tags={
                "climb.role": role,
                "climb.weights_digest": ref["digest"],
                "climb.cached": result["cached"],
                "climb.data_source": result["data_source"],
                "climb.deviations": "; ".join(result["deviations"]),
            },
        )
        if out_dir.is_dir():
            tracking.log_artifacts(client, run_id, out_dir, "eval")
    return as_json(result)


def measurement(cfg: Any) -> dict[str, Any]:
    """Return how `cfg.eval` measures models: suite, suite_version, protocol, limit, data_source
    (the fields a recorded result must share to be compared with a new one)."""
    from climb.evaluate.runner import data_source

    suite = load_suite(cfg.eval.suite)
    return {
        "suite": suite.name,
        "suite_version": suite.version,
        "protocol": cfg.eval.protocol,
        "limit": cfg.eval.limit,
        "data_source": data_source(cfg.eval)[1],
    }


def champion_reference(
    ctx: RunContext, base: dict[str, Any], remote: RemoteEval | None = None
) -> dict[str, Any]:
    """Return the scores to beat: the champion's recorded scores when they were measured the way
    this run measures (suite, version, protocol, limit, data), else the champion re-evaluated
    now (cached by weights digest), else, with no champion, the base model's.
    Result: {kind: champion | base, version, result}.
    """
    cfg = ctx.config
    client = ctx.client()
    champ = versions.get_champion(client, cfg.promotion.registered_model)
    if champ is None:
        ref = {"path": base["path"], "name": base["name"], "digest": base["digest"]}
        return {"kind": "base", "version": None, "result": evaluate(ctx, ref, "base", remote)}
    recorded = champ.result
    wanted = measurement(cfg)
    if recorded and all(recorded.get(k) == v for k, v in wanted.items()):
        return {"kind": "champion", "version": champ.version, "result": recorded}
    log.info("champion v%s was measured differently; re-evaluating it", champ.version)
    weights = tracking.download(client, champ.source, Path(ctx.run_dir) / "champion")
    champ_base = resolve_model(champ.tags.get("climb.base_model_uri", cfg.model.base), ctx.state)
    full = champ.tags.get("climb.method") == "full"
    ref = {
        "path": weights if full else champ_base.path,
        "name": f"{cfg.promotion.registered_model}@champion",
        "digest": champ.tags.get("climb.weights_digest") or f"registry-v{champ.version}",
        "adapter_path": None if full else weights,
    }
    result = evaluate(ctx, ref, "champion", remote)
    return {"kind": "champion", "version": champ.version, "result": result}


def decide_promotion(
    ctx: RunContext,
    candidate: dict[str, Any],
    reference: dict[str, Any],
    contamination_clean: bool | None = None,
) -> dict[str, Any]:
    """Apply the promotion policy; log the decision on the parent run; return Decision.to_dict().

    `contamination_clean` None: read the data stage's `climb.data_clean` tag on the parent run
    ("False" blocks promotion; absent means the data stage reported no decontamination).
    """
    cfg = ctx.config
    client = ctx.client()
    if contamination_clean is None:
        tag = client.get_run(ctx.parent_run_id).data.tags.get("climb.data_clean")
        contamination_clean = tag != "False"
    cand = Scores.from_result(candidate)
    ref = Scores.from_result(reference["result"]) if reference.get("result") else None
    decision = decide(
        cand,
        ref,
        cfg.promotion,
        reference_kind=reference["kind"],
        contamination_clean=contamination_clean,
    )
    tracking.log_flat(
        client,
        ctx.parent_run_id,
        metrics={
            "candidate/average": cand.average,
            "reference/average": ref.average if ref else float("nan"),
            "decision/promote": float(decision.promote),
        },
        tags={
            "climb.decision": "promote" if decision.promote else "keep",
            "climb.decision_reasons": " | ".join(decision.reasons),
            "climb.reference": f"{reference['kind']} {reference.get('version') or ''}".strip(),
        },
    )
    return decision.to_dict()


def register_and_promote(
    ctx: RunContext,
    candidate: dict[str, Any],
    cand_result: dict[str, Any],
    decision: dict[str, Any],
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the candidate as a model version; if the decision says so, publish it and then
    move `champion` to it, under the promotion lock and re-checked against the champion of that
    moment (climb.registry.champion.release). Otherwise it becomes `challenger`.

    Returns {"promotion": {registered_model, version, promoted}, "publish": PublishResult dict,
    "reason": why the alias moved or not}. Raises when publishing fails: the version stays
    registered, the alias does not move.
    """
    from climb.pipeline.promote import promote_candidate

    with stage_run(ctx, "promote") as run_id:
        out = promote_candidate(ctx, run_id, candidate, cand_result, decision, reference or {})
    return out
