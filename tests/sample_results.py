"""A suite result with leaderboard shots and metrics, as published (model card, results JSON);
shared by the publishing tests (unit, and against the local Hub server)."""

from __future__ import annotations

from typing import Any

PUBLISHED_RESULT: dict[str, Any] = {
    "suite": "open-llm-v1",
    "suite_version": "1",
    "protocol": "lm-eval-0.4",
    "lm_eval_version": "0.4.13",
    "limit": 2,
    "data_source": "smoke",
    "average": 41.5,
    "deviations": ["hellaswag few-shot from validation"],
    "model": {"name": "base + lora", "digest": "abc", "dtype": "float32"},
    "tasks": {
        "arc_challenge": {
            "score": 0.5,
            "stderr": 0.1,
            "metric": "acc_norm",
            "num_fewshot": 25,
            "n": 2,
        },
        "hellaswag": {
            "score": 0.25,
            "stderr": 0.1,
            "metric": "acc_norm",
            "num_fewshot": 10,
            "n": 2,
        },
        "mmlu": {"score": 0.3, "stderr": 0.05, "metric": "acc", "num_fewshot": 5, "n": 114},
        "truthfulqa_mc2": {"score": 0.61, "stderr": 0.1, "metric": "acc", "num_fewshot": 0, "n": 2},
    },
}
