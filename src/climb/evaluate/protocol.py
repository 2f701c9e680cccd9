"""Evaluation protocols: which harness's rules a score follows.

- `lm-eval-0.4`: lm-eval 0.4's task definitions unchanged (climb's default).
- `leaderboard-2023`: where a difference between lm-eval 0.4 and the harness the Open LLM
  Leaderboard ran in 2023 (commit b281b09) is cheap to undo, it is undone:
  TruthfulQA mc2 splits each document's answers at the first false one, as the old harness did
  (lm-eval 0.4 sums the answers labelled true; the two differ on the two documents whose labels
  are not sorted, 25 and 208 of the validation split).

The differences that are not undone (few-shot sampling order, `limit` selection, tokenization of
the context/continuation boundary) are listed in docs/evaluation.md; a result records its
protocol and the cache keys on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PROTOCOLS = ("lm-eval-0.4", "leaderboard-2023")


def mc2_split_at_first_false(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict:
    """TruthfulQA mc2 as the 2023 harness scored it: the answers before the first label 0 are
    the true ones. Takes the document and its (log-likelihood, is_greedy) per mc2 choice;
    returns {"acc": normalised probability mass on those answers}."""
    lls = np.array([ll for ll, _ in results])
    labels = list(doc["mc2_targets"]["labels"])
    split = labels.index(0) if 0 in labels else len(labels)
    probs = np.exp(lls)
    return {"acc": float(np.sum(probs[:split]) / np.sum(probs))}


# lm-eval's TruthfulQA mc2 scoring (lm_eval/tasks/truthfulqa/utils.py), under the names task
# YAMLs give it: lm-eval's own and climb's (config/tasks/task_utils.py).
MC2_FUNCTIONS = ("process_results_mc2", "truthfulqa_process_results_mc2")


def function_name(ref: Any) -> str:
    """Return the name of a task config's function: a callable's `__name__`, or the last part
    of a `!function` reference as lm-eval's task index leaves it ('/dir/utils.name')."""
    if callable(ref):
        return str(getattr(ref, "__name__", ""))
    return str(ref).rpartition(".")[2] if isinstance(ref, str) else ""


def protocol_overrides(cfg: dict[str, Any], protocol: str) -> tuple[dict[str, Any], list[str]]:
    """Return the settings that make one lm-eval task follow `protocol`, and notes on what they
    change (none for lm-eval-0.4). Takes the task's registered config (functions loaded or
    not) and the protocol name; raises ValueError for an unknown protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown eval protocol {protocol!r}; known: {list(PROTOCOLS)}")
    if protocol == "lm-eval-0.4":
        return {}, []
    if function_name(cfg.get("process_results")) in MC2_FUNCTIONS:
        note = f"{cfg.get('task')}: mc2 split at the first false answer (2023 harness)"
        return {"process_results": mc2_split_at_first_false}, [note]
    return {}, []
