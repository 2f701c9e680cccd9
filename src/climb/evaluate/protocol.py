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


def apply_protocol(cfg: dict[str, Any], protocol: str) -> list[str]:
    """Change one resolved lm-eval task config in place to follow `protocol`; return notes on
    what was changed (empty for lm-eval-0.4)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown eval protocol {protocol!r}; known: {list(PROTOCOLS)}")
    if protocol == "lm-eval-0.4":
        return []
    notes = []
    fn = cfg.get("process_results")
    if getattr(fn, "__name__", "") == "process_results_mc2":
        cfg["process_results"] = mc2_split_at_first_false
        notes.append(f"{cfg.get('task')}: mc2 split at the first false answer (2023 harness)")
    return notes
