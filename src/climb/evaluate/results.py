"""Result files of one evaluation: lm-eval's own output, per-sample logs, climb's suite result
and a leaderboard-style results JSON ({"config": {...}, "results": {task: {metric: score}}}).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from climb.records import EvalResult, SuiteScores
from climb.state import write_json_atomic


def leaderboard_json(result: SuiteScores) -> dict[str, Any]:
    """Return the leaderboard-style results JSON of a suite result (scores on a 0..1 scale)."""
    results: dict[str, Any] = {}
    for name, t in result.tasks.items():
        row: dict[str, Any] = {t.metric: t.score}
        if t.stderr is not None:
            row[f"{t.metric}_stderr"] = t.stderr
        row["n"] = t.n
        results[name] = row
    results["all"] = {"average": result.average, "scale": result.scale}
    return {
        "config": {
            "model_name": result.model.name,
            "model_sha": result.model.digest,
            "model_dtype": result.model.dtype,
            "lm_eval_version": result.lm_eval_version,
            "suite": result.suite,
            "suite_version": result.suite_version,
            "protocol": result.protocol,
            "limit": result.limit,
            "data_source": result.data_source,
        },
        "results": results,
        "versions": {name: result.suite_version for name in result.tasks},
    }


def write_outputs(out_dir: Path, result: EvalResult, lm_eval_out: dict[str, Any]) -> None:
    """Write suite.json (the EvalResult, per-document results included), leaderboard.json,
    lm_eval_results.json and samples/<task>.jsonl into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = lm_eval_out.pop("samples", {}) or {}
    write_json_atomic(out_dir / "lm_eval_results.json", lm_eval_out)
    write_json_atomic(out_dir / "suite.json", result.model_dump(mode="json"))
    write_json_atomic(out_dir / "leaderboard.json", leaderboard_json(result))
    sample_dir = out_dir / "samples"
    sample_dir.mkdir(exist_ok=True)
    for task, rows in samples.items():
        with (sample_dir / f"{task}.jsonl").open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=str) + "\n")
