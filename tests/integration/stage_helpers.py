"""Building blocks for tests of the promote stage without training: a real experiment config,
a real pipeline context (climb.pipeline.start_pipeline: parent run with provenance tags), a
candidate whose adapter folder is logged as the artifacts of a real `fine_tune` stage run, and
suite results with chosen scores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from climb.pipeline.context import RunContext, stage_run, start_pipeline
from climb.registry import tracking, versions

REPO = Path(__file__).resolve().parents[2]
TASKS = ("arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2")


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


def result(
    average: float, scores: dict[str, float] | None = None, limit: int = 2
) -> dict[str, Any]:
    """A suite result as `evaluate_model` returns it; task scores 0..1, average in points."""
    scores = scores or {t: average / 100 for t in TASKS}
    return {
        "suite": "open-llm-v1",
        "suite_version": "1",
        "protocol": "lm-eval-0.4",
        "lm_eval_version": "0.4.13",
        "limit": limit,
        "data_source": "smoke",
        "average": average,
        "deviations": [],
        "model": {"name": "cand", "digest": f"d{average}", "dtype": "float32"},
        "tasks": {
            t: {"score": s, "stderr": 0.01, "metric": "acc", "num_fewshot": 0, "n": 2}
            for t, s in scores.items()
        },
        "cached": False,
        "seconds": 1.0,
    }


def candidate(ctx: RunContext, label: str) -> dict[str, Any]:
    """A trained-candidate dict whose adapter (distinct bytes per label) is logged to MLflow."""
    folder = Path(ctx.run_dir) / "train" / "adapter"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_model.safetensors").write_bytes(f"weights of {label}".encode() * 64)
    (folder / "adapter_config.json").write_text('{"r": 8, "peft_type": "LORA"}')
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')
    with stage_run(ctx, "fine_tune") as run_id:
        tracking.log_artifacts(ctx.client(), run_id, folder, "adapter")
    return {
        "adapter_path": str(folder),
        "base_path": "",
        "base_name": "tiny-base",
        "base_uri": "tiny-base",
        "digest": f"digest-{label}",
        "source": f"runs:/{run_id}/adapter",
        "train_run_id": run_id,
        "method": "lora",
    }


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


def plant_zero_champion(uri: str, model: str, source: str) -> str:
    """Register a champion of `model` measured the way the tiny test configs measure (smoke data,
    limit 1) but scoring 0 everywhere, so any candidate beats it; return its version.
    `source` must be a URI the tracking server accepts (a local path only for SQLite)."""
    client = tracking.client_for(uri)
    recorded = {**result(0.0, limit=1), "model": {"name": "old", "digest": "old"}}
    version = versions.register_version(
        client,
        model,
        source,
        None,
        {"climb.result": json.dumps(recorded), "climb.average": "0.0"},
    )
    client.set_registered_model_alias(model, "champion", version)
    return version
