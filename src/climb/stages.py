"""One function per pipeline stage. Each runs inside its own nested MLflow run (see
`pipeline.stage_run`), calls the module that does the work, and returns a small dict.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from climb import registry
from climb.config import dump_config
from climb.data.prepare import prepare_data
from climb.evaluate.runner import ModelRef, evaluate_model
from climb.evaluate.suites import load_suite
from climb.launch.dispatch import launch
from climb.models import resolve_model, weights_digest
from climb.pipeline import RunContext, as_json, stage_run
from climb.promotion import Decision, Scores, decide
from climb.publish import PublishResult, build_repo_folder, model_card, publish_folder
from climb.train.spec import TrainSpec

log = logging.getLogger(__name__)
RESULT_TAG = f"{registry.TAG_PREFIX}result"


def resolve_base(ctx: RunContext) -> dict[str, Any]:
    """Resolve (download / convert once) the base model; return path, name and digest."""
    cfg = ctx.config
    with stage_run(ctx, "resolve_base_model") as run_id:
        start = time.perf_counter()
        model = resolve_model(cfg.model.base, ctx.state, cfg.model.display_name, cfg.model.revision)
        seconds = time.perf_counter() - start
        registry.log_flat(
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
        registry.log_flat(
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
        registry.log_flat(
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
        registry.log_flat(
            client,
            run_id,
            params=registry.flatten("train", cfg.train.model_dump(mode="json"))
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
        result = launch(spec, cfg.launcher, on_line=lambda line: log.info("%s", line))
        seconds = time.perf_counter() - start
        digest = hashlib.sha256(
            (base["digest"] + weights_digest(result.adapter_path)).encode()
        ).hexdigest()
        registry.log_flat(
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
        registry.log_artifacts(client, run_id, Path(result.adapter_path), artifact)
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


def evaluate(ctx: RunContext, ref: dict[str, Any], role: str) -> dict[str, Any]:
    """Evaluate a model (role: candidate | base | champion) on the suite, with the cache."""
    cfg = ctx.config
    with stage_run(ctx, f"evaluate_{role}") as run_id:
        model = ModelRef(
            path=ref["path"],
            name=ref["name"],
            digest=ref["digest"],
            adapter_path=ref.get("adapter_path"),
        )
        out_dir = Path(ctx.run_dir) / f"eval-{role}"
        result = evaluate_model(model, cfg.eval, ctx.state, out_dir)
        client = ctx.client()
        metrics = {f"score/{k}": 100 * v["score"] for k, v in result["tasks"].items()}
        metrics["average"] = result["average"]
        registry.log_flat(
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
            registry.log_artifacts(client, run_id, out_dir, "eval")
    return as_json(result)


def champion_reference(ctx: RunContext, base: dict[str, Any]) -> dict[str, Any]:
    """Return the scores to beat: the champion's (recorded, cached, or re-evaluated), else the
    base model's. Result: {kind, version, result}.
    """
    cfg = ctx.config
    client = ctx.client()
    champ = registry.get_champion(client, cfg.promotion.registered_model)
    if champ is None:
        return {
            "kind": "base",
            "version": None,
            "result": evaluate(
                ctx, {"path": base["path"], "name": base["name"], "digest": base["digest"]}, "base"
            ),
        }
    recorded = champ.result
    probe = {"suite": cfg.eval.suite, "protocol": cfg.eval.protocol, "limit": cfg.eval.limit}
    if (
        recorded
        and all(recorded.get(k) == v for k, v in probe.items())
        and recorded.get("suite_version") == load_suite(cfg.eval.suite).version
    ):
        return {"kind": "champion", "version": champ.version, "result": recorded}
    local = Path(ctx.run_dir) / "champion"
    adapter = registry_download(client, champ.source, local)
    champ_base = resolve_model(champ.tags.get("climb.base_model_uri", cfg.model.base), ctx.state)
    ref = {
        "path": champ_base.path,
        "name": f"{cfg.promotion.registered_model}@champion",
        "digest": champ.tags.get("climb.weights_digest", ""),
        "adapter_path": adapter,
    }
    return {"kind": "champion", "version": champ.version, "result": evaluate(ctx, ref, "champion")}


def registry_download(client: Any, source: str, dst: Path) -> str:
    """Download a registered version's artifacts; return the local folder."""
    import mlflow

    dst.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(client.tracking_uri)
    return str(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst)))


def decide_promotion(
    ctx: RunContext, candidate: dict[str, Any], reference: dict[str, Any]
) -> dict[str, Any]:
    """Apply the promotion policy; log the decision on the parent run."""
    cfg = ctx.config
    cand = Scores.from_result(candidate)
    ref = Scores.from_result(reference["result"]) if reference.get("result") else None
    clean = ctx.client().get_run(ctx.parent_run_id).data.tags.get("climb.data_clean")
    decision = decide(
        cand,
        ref,
        cfg.promotion,
        reference_kind=reference["kind"],
        contamination_clean=clean == "True",
    )
    registry.log_flat(
        ctx.client(),
        ctx.parent_run_id,
        metrics={
            "candidate/average": cand.average,
            "reference/average": ref.average if ref else float("nan"),
            "decision/promote": float(decision.promote),
        },
        tags={
            "climb.decision": "promote" if decision.promote else "keep",
            "climb.decision_reasons": " | ".join(decision.reasons),
        },
    )
    return decision.to_dict()


def register_and_promote(
    ctx: RunContext,
    candidate: dict[str, Any],
    cand_result: dict[str, Any],
    decision: dict[str, Any],
) -> dict[str, Any]:
    """Register the candidate as a model version; move `champion` to it if the decision says so
    (compare-and-set: re-checked against the champion current at that moment).
    """
    cfg = ctx.config
    client = ctx.client()
    name = cfg.promotion.registered_model
    with stage_run(ctx, "promote") as run_id:
        tags = {
            "climb.average": f"{cand_result['average']:.6f}",
            RESULT_TAG: _compact_result(cand_result),
            "climb.weights_digest": candidate["digest"],
            "climb.base_model": candidate["base_name"],
            "climb.base_model_uri": candidate["base_uri"],
            "climb.suite": cand_result["suite"],
            "climb.protocol": cand_result["protocol"],
            "climb.pipeline_run_id": ctx.parent_run_id,
        }
        version = registry.register_version(
            client, name, candidate["source"], candidate["train_run_id"], tags
        )
        promoted = False
        if decision["promote"]:
            cand_scores = Scores.from_result(cand_result)

            def still_better(current: registry.Champion | None) -> bool:
                if current is None or current.result is None:
                    return True
                again = decide(cand_scores, Scores.from_result(current.result), cfg.promotion)
                return again.promote

            promoted = registry.set_champion_if(client, name, version, still_better)
        if not promoted:
            client.set_registered_model_alias(name, registry.CHALLENGER, version)
        registry.log_flat(
            client, run_id, tags={"climb.version": version, "climb.promoted": promoted}
        )
        registry.log_flat(
            client, ctx.parent_run_id, tags={"climb.version": version, "climb.promoted": promoted}
        )
    return {"registered_model": name, "version": version, "promoted": promoted}


def _compact_result(result: dict[str, Any]) -> str:
    import json

    keep = {
        k: result[k]
        for k in (
            "suite",
            "suite_version",
            "protocol",
            "lm_eval_version",
            "limit",
            "data_source",
            "average",
            "deviations",
        )
    }
    keep["tasks"] = {
        k: {kk: v[kk] for kk in ("score", "stderr", "metric", "num_fewshot", "n")}
        for k, v in result["tasks"].items()
    }
    keep["model"] = {
        "name": result["model"]["name"],
        "digest": result["model"]["digest"],
        "dtype": result["model"].get("dtype"),
    }
    return json.dumps(keep, sort_keys=True)


def publish(
    ctx: RunContext,
    candidate: dict[str, Any],
    cand_result: dict[str, Any],
    decision: dict[str, Any],
    promotion: dict[str, Any],
) -> dict[str, Any]:
    """Publish the promoted model (Hub push, or the outbox without a token)."""
    from climb.evaluate.results import leaderboard_json

    cfg = ctx.config
    with stage_run(ctx, "publish") as run_id:
        config_yaml = dump_config(cfg)
        card = model_card(
            repo_id=cfg.publish.repo_id,
            base_model=candidate["base_name"],
            result=cand_result,
            suite=load_suite(cfg.eval.suite),
            license_id=cfg.publish.license,
            datasets=[Path(s.path).name for s in cfg.data.sources],
            config_yaml=config_yaml,
            decision=decision,
        )
        folder = Path(ctx.run_dir) / "publish"
        digest = build_repo_folder(
            folder,
            weights_dir=Path(candidate["adapter_path"]),
            card=card,
            leaderboard=leaderboard_json(cand_result),
            config_yaml=config_yaml,
        )
        result: PublishResult = publish_folder(cfg.publish, folder, digest, ctx.state)
        registry.log_flat(
            ctx.client(),
            run_id,
            tags={
                "climb.publish_mode": result.mode,
                "climb.publish_location": result.location,
                "climb.publish_digest": result.digest,
                "climb.version": promotion["version"],
            },
        )
    return result.to_dict()


def skipped_publish(reason: str) -> dict[str, Any]:
    """The publish result when the stage does not run."""
    return PublishResult("skipped", "", "", False, reason).to_dict()


def reference_decision(decision: dict[str, Any]) -> Decision:
    """Rebuild a Decision from its dict."""
    return Decision(**decision)
