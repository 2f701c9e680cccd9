"""Building blocks for tests of the registry and promote stages without training: a real
experiment config, a real pipeline context (start_pipeline: parent run with provenance tags), a
candidate whose adapter folder is logged as the artifacts of a real `fine_tune` stage run, a
planted champion, and MLflow stores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from climb.pipeline.context import RunContext, stage_run, start_pipeline
from climb.records import Candidate, Decision, EvalResult, PreparedData, Reference, Release
from climb.registry import tags as T
from climb.registry import tracking, versions
from support.configs import SMOKE_EVAL
from support.factories import candidate as candidate_record
from support.factories import eval_result, prepared_data

REPO = Path(__file__).resolve().parents[2]


def write_config(
    folder: Path,
    *,
    uri: str,
    model: str,
    publish: dict[str, Any] | None = None,
    name: str = "reg",
    promotion: dict[str, Any] | None = None,
) -> Path:
    """Write an experiment YAML (demo data, limit 2, local launcher) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["name"] = name
    cfg["state_dir"] = str(folder / "state")
    cfg["model"] = {"base": "tiny-base", "name": "tiny-base"}
    cfg["data"]["sources"][0]["path"] = str(REPO / "data" / "demo" / "instructions.jsonl")
    cfg["eval"] = {**SMOKE_EVAL, "limit": 2}
    cfg["launcher"] = {"kind": "local", "nproc": 1}
    cfg["tracking"] = {"uri": uri, "experiment": f"{name}-exp"}
    cfg["promotion"] = {"registered_model": model, **(promotion or {})}
    cfg["publish"] = {
        "repo_id": "climb-org/reg-model",
        "mode": "dry-run",
        "outbox_dir": str(folder / "outbox"),
        **(publish or {}),
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def context(config: Path) -> RunContext:
    """Open a real pipeline run (parent MLflow run, run folder) for `config`."""
    return start_pipeline(str(config), [], flow_run_id="test-flow-run")


def candidate(ctx: RunContext, label: str) -> Candidate:
    """A trained Candidate whose adapter (distinct bytes per label) is logged to MLflow as the
    artifacts of a real `fine_tune` stage run."""
    folder = Path(ctx.run_dir) / "train" / "adapter"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_model.safetensors").write_bytes(f"weights of {label}".encode() * 64)
    (folder / "adapter_config.json").write_text('{"r": 8, "peft_type": "LORA"}')
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    with stage_run(ctx, "fine_tune") as run_id:
        tracking.log_artifacts(ctx.client(), run_id, folder, "adapter")
    return candidate_record(
        weights_path=str(folder),
        digest=f"digest-{label}",
        source=f"runs:/{run_id}/adapter",
        train_run_id=run_id,
    )


def sqlite_template(basetemp: Path) -> Path:
    """Return an empty, migrated MLflow SQLite database under pytest's `basetemp`, created on
    first use in the session (migrations take ~10 s on a busy 2-core machine)."""
    folder = basetemp / "mlflow-template"
    db = folder / "template.db"
    if not db.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"building-{os.getpid()}.db"
        tracking.client_for(f"sqlite:///{tmp}").search_experiments()
        tmp.replace(db)
    return db


def sqlite_copy(template: Path, folder: Path) -> str:
    """Copy the migrated template into `folder`; return its tracking URI (a fresh store)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mlflow.db"
    shutil.copyfile(template, db)
    return f"sqlite:///{db}"


def everything_mlflow_holds(uri: str, tmp: Path) -> str:
    """Every param, tag and artifact byte of every run, plus registry tags, as one text."""
    client = tracking.client_for(uri)
    parts: list[str] = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=500):
            parts += [f"{k}={v}" for k, v in run.data.params.items()]
            parts += [f"{k}={v}" for k, v in run.data.tags.items()]
            parts += list(run.data.metrics)
            dst = tmp / "artifacts" / run.info.run_id
            dst.mkdir(parents=True)
            client.download_artifacts(run.info.run_id, "", str(dst))
            parts += [p.read_bytes().decode("latin-1") for p in dst.rglob("*") if p.is_file()]
    for rm in client.search_registered_models():
        parts += [f"{k}={v}" for k, v in rm.tags.items()]
        for mv in client.search_model_versions(f"name = '{rm.name}'"):
            parts += [f"{k}={v}" for k, v in mv.tags.items()]
    return "\n".join(parts)


def measured_like(config: Path, result: EvalResult, digest: str) -> EvalResult:
    """`result` as if measured the way `config` measures (suite, version, protocol, limit,
    data), for the model with weights digest `digest`."""
    from climb.config import load_config
    from climb.evaluate.runner import data_source
    from climb.evaluate.suites import load_suite
    from climb.records import ModelInfo

    cfg = load_config(config)
    suite = load_suite(cfg.eval.suite)
    return result.model_copy(
        update={
            "suite": suite.name,
            "suite_version": suite.version,
            "protocol": cfg.eval.protocol,
            "limit": cfg.eval.limit,
            "data_source": data_source(cfg.eval)[1],
            "model": ModelInfo(name=f"model {digest}", digest=digest),
        }
    )


def cache_evaluation(config: Path, result: EvalResult, digest: str) -> EvalResult:
    """Put `result` in the evaluation cache of `config` for the weights `digest` (as if that
    model had been evaluated the way `config` measures); return the stored result."""
    from climb.config import load_config
    from climb.evaluate.cache import cache_put
    from climb.evaluate.runner import evaluation_key
    from climb.records import ModelRef
    from climb.state import StateDir

    cfg = load_config(config)
    stored = measured_like(config, result, digest)
    key = evaluation_key(ModelRef(path="", name="cached", digest=digest), cfg.eval)
    cache_put(StateDir.at(cfg.state_dir).eval_cache, key, stored)
    return stored


def zero_evaluation(config: Path, digest: str) -> EvalResult:
    """The evaluation of a model that scores 0 on every document `config` measures: the same
    documents (lm-eval's ids and content hashes, computed as lm-eval does) with every metric
    value 0, so a real candidate is compared with it document by document."""
    import json

    from lm_eval.utils import handle_non_serializable, hash_string

    from climb.config import load_config
    from climb.evaluate.runner import data_source
    from climb.evaluate.suites import load_suite
    from climb.evaluate.tasks import plan_suite
    from climb.records import DocResult, TaskScore

    cfg = load_config(config)
    suite = load_suite(cfg.eval.suite)
    folder, _ = data_source(cfg.eval)
    plan = plan_suite(suite, folder, cfg.eval.include_optional, protocol=cfg.eval.protocol)
    loaded = plan.tasks()
    documents, tasks = {}, {}
    for st in suite.selected(cfg.eval.include_optional):
        for leaf in plan.leaves[st.name]:
            docs = list(loaded[leaf].eval_docs)[: cfg.eval.limit]
            documents[leaf] = [
                DocResult(
                    doc_id=i,
                    doc_hash=hash_string(
                        json.dumps(
                            doc, indent=2, default=handle_non_serializable, ensure_ascii=False
                        )
                    ),
                    values=dict.fromkeys(st.metrics(), 0.0),
                )
                for i, doc in enumerate(docs)
            ]
        leaves = plan.leaves[st.name]
        tasks[st.name] = TaskScore(
            score=0.0,
            stderr=0.0,
            metric=st.metric,
            num_fewshot=st.num_fewshot,
            n=sum(len(documents[leaf]) for leaf in leaves),
            leaves=leaves,
        )
    zero = eval_result(scores={}, digest=digest)
    return zero.model_copy(update={"tasks": tasks, "documents": documents, "average": 0.0})


def plant_zero_champion(uri: str, model: str, source: str, config: Path) -> str:
    """Register a champion of `model` that scores 0 on every document, measured the way
    `config` measures, so any candidate that answers something right beats it; return its
    version. Its evaluation is put in the config's evaluation cache (keyed by its weights
    digest), so no run has to evaluate it. `source` must be a URI the tracking server accepts
    (a local path only for SQLite)."""
    digest = f"planted-zero-{model}"
    zero = cache_evaluation(config, zero_evaluation(config, digest), digest)
    client = tracking.client_for(uri)
    version = versions.register_version(
        client,
        model,
        source,
        None,
        {
            T.RESULT: zero.compact().model_dump_json(),
            T.AVERAGE: "0.0",
            T.WEIGHTS_DIGEST: digest,
        },
    )
    client.set_registered_model_alias(model, "champion", version)
    return version


class Prepared(NamedTuple):
    """What the promote stage takes, for one candidate decided against a reference."""

    ctx: RunContext
    candidate: Candidate
    result: EvalResult
    reference: Reference
    decision: Decision


def prepare_promotion(config: Path, label: str, average: float, reference: Reference) -> Prepared:
    """Open a real run of `config`, a candidate `label` scoring `average` everywhere (cached as
    the pipeline caches it), and the decision against `reference` under the config's policy."""
    from climb.evaluate.suites import load_suite
    from climb.registry.decision import decide

    ctx = context(config)
    cand = candidate(ctx, label)
    # In the evaluation cache, as evaluate_candidate leaves it: a later run's recheck under the
    # promotion lock finds this model's documents there once it is champion.
    res = cache_evaluation(config, eval_result(average), cand.digest)
    kind = "champion" if reference.kind == "champion" else "base"
    suite = load_suite(ctx.config.eval.suite)
    decision = decide(res, reference.result, ctx.config.promotion, suite, kind)
    return Prepared(ctx, cand, res, reference, decision)


def promote_prepared(p: Prepared, data: PreparedData | None = None) -> Release:
    """Run the real promote stage on a prepared promotion (clean data by default)."""
    from climb.pipeline import stages

    return stages.promote(
        p.ctx, p.candidate, p.result, p.reference, p.decision, data or prepared_data()
    )
