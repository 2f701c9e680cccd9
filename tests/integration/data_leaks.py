"""Disguised benchmark items, the way leaked items look in instruction data, for measuring
decontamination on the real Open LLM Leaderboard v1 benchmarks (../shared/benchmarks).

`leaked_items` draws 10 evaluation documents per benchmark with a fixed seed (3 of the ARC ones
among its short questions, 8-12 words, the case lm-eval's 13-gram query misses) and writes each
as an alpaca row in one of five disguises per benchmark: the question alone with the answer
after a phrase, options listed in another format, a lead-in sentence, a change of case, extra
whitespace or typographic quotes. `pool_items` writes ARC-Challenge *train* and MMLU *dev*
documents (the few-shot pools, which training may use) the same way: decontamination must keep
them. The disguises were written before the matcher was run on them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

Row = dict[str, str]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:  # not splitlines(): rows hold U+2028
        return [json.loads(line) for line in fh if line.strip()]


def _arc(doc: dict[str, Any], style: int) -> Row:
    q, choices = doc["question"], doc["choices"]["text"]
    gold = choices[doc["choices"]["label"].index(doc["answerKey"])]
    return [
        {"instruction": q, "output": f"The answer is: {gold}"},
        {
            "instruction": "Answer the following science question.",
            "input": f"{q}\nOptions: {', '.join(choices)}",
            "output": gold,
        },
        {"instruction": f"Q: {q}", "output": f"{gold}."},
        {"instruction": q.lower(), "output": gold.upper()},
        {"instruction": "Quiz time!  " + q.replace(" ", "  "), "output": f" {gold} "},
    ][style]


def _mmlu(doc: dict[str, Any], style: int) -> Row:
    q, choices, a = doc["question"].strip(), doc["choices"], doc["answer"]
    subject = doc["subject"].replace("_", " ")
    return [
        {
            "instruction": q
            + "\n"
            + "\n".join(f"{k}. {c}" for k, c in zip("ABCD", choices, strict=False)),
            "output": "ABCD"[a],
        },
        {"instruction": q, "output": f"The correct answer is {choices[a]}."},
        {"instruction": f"Here is a question about {subject}.", "input": q, "output": choices[a]},
        {
            "instruction": q + "\n" + "\n".join(f"({i + 1}) {c}" for i, c in enumerate(choices)),
            "output": f"({a + 1}) {choices[a]}",
        },
        {"instruction": q.replace("'", "\u2019").replace('"', "\u201c"), "output": choices[a]},
    ][style]


def _hellaswag(doc: dict[str, Any], style: int) -> Row:
    ctx, ending = doc["ctx"], doc["endings"][int(doc["label"])]
    return [
        {"instruction": "Continue the story.", "input": ctx, "output": ending},
        {"instruction": f"How does this end? {ctx}", "output": ending},
        {"instruction": doc["ctx_a"], "output": f"{doc['ctx_b']} {ending}".strip()},
        {
            "instruction": "Write the next sentence.",
            "input": f"{doc['activity_label']}: {ctx}",
            "output": ending,
        },
        {"instruction": ctx.upper(), "output": ending},
    ][style]


def _truthfulqa(doc: dict[str, Any], style: int, rng: random.Random) -> Row:
    q, best = doc["question"], doc["mc1_targets"]["choices"][0]
    mc2 = doc["mc2_targets"]
    true = [c for c, label in zip(mc2["choices"], mc2["labels"], strict=False) if label]
    return [
        {"instruction": q, "output": best},
        {"instruction": f"Answer truthfully: {q}", "output": rng.choice(true)},
        {"instruction": q, "output": f"{best} That is the truthful answer."},
        {"instruction": q.lower().rstrip("?"), "output": best},
        {"instruction": f"Q: {q} A: {best}", "output": "Noted."},
    ][style]


def leaked_items(bench: Path, per_benchmark: int = 10, seed: int = 13) -> list[tuple[str, Row]]:
    """Return [(benchmark, alpaca row)]: `per_benchmark` disguised evaluation documents of each
    v1 benchmark (see the module docstring)."""
    rng = random.Random(seed)
    arc = _jsonl(bench / "arc_challenge" / "arc_challenge_test.hf.jsonl")
    short = [d for d in arc if 8 <= len(d["question"].split()) <= 12]
    arc_docs = rng.sample(short, 3) + rng.sample([d for d in arc if d not in short], 7)
    mmlu = rng.sample(_jsonl(bench / "mmlu" / "mmlu_test.jsonl"), per_benchmark)
    hs = rng.sample(_jsonl(bench / "hellaswag" / "hellaswag_validation.jsonl"), per_benchmark)
    tqa = rng.sample(_jsonl(bench / "truthfulqa" / "truthfulqa_mc_validation.jsonl"), 10)
    out: list[tuple[str, Row]] = []
    for i in range(per_benchmark):
        style = i % 5
        out.append(("arc_challenge", _arc(arc_docs[i], style)))
        out.append(("mmlu", _mmlu(mmlu[i], style)))
        out.append(("hellaswag", _hellaswag(hs[i], style)))
        out.append(("truthfulqa_mc2", _truthfulqa(tqa[i], style, rng)))
    return out


def pool_items(bench: Path, per_pool: int = 5, seed: int = 29) -> list[Row]:
    """Return disguised ARC-Challenge train and MMLU dev documents (few-shot pools: clean)."""
    rng = random.Random(seed)
    arc = rng.sample(_jsonl(bench / "arc_challenge" / "arc_challenge_train.hf.jsonl"), per_pool)
    dev = rng.sample(_jsonl(bench / "mmlu" / "mmlu_dev.jsonl"), per_pool)
    return [_arc(d, i % 5) for i, d in enumerate(arc)] + [
        _mmlu(d, i % 5) for i, d in enumerate(dev)
    ]
