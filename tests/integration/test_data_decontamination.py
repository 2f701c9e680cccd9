"""Decontamination against the real Open LLM Leaderboard v1 benchmarks (../shared/benchmarks,
read through climb's suite, lm-eval task configs and mirror): items planted in the demo training
set are found and exactly those are dropped; 40 disguised items (tests/integration/data_leaks.py)
are all found, with no clean row dropped, and the benchmarks' few-shot pools (ARC train, MMLU dev)
are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.config import DataConfig, EvalConfig
from climb.data.prepare import prepare_data
from climb.state import StateDir
from tests.integration.data_leaks import leaked_items, pool_items

pytestmark = [pytest.mark.integration, pytest.mark.shared]


def _line(path: Path, n: int) -> dict:
    with path.open() as fh:
        for i, line in enumerate(fh):
            if i == n:
                return json.loads(line)
    raise IndexError(n)


def planted_items(bench: Path) -> dict[str, dict]:
    """One training example per benchmark, written the way leaked items usually look."""
    arc = _line(bench / "arc_challenge" / "arc_challenge_test.hf.jsonl", 17)
    gold = arc["choices"]["text"][arc["choices"]["label"].index(arc["answerKey"])]
    mmlu = _line(bench / "mmlu" / "mmlu_test.jsonl", 9001)
    options = "\n".join(f"{k}. {c}" for k, c in zip("ABCD", mmlu["choices"], strict=True))
    hs = _line(bench / "hellaswag" / "hellaswag_validation.jsonl", 4242)
    tqa = _line(bench / "truthfulqa" / "truthfulqa_mc_validation.jsonl", 300)
    return {
        "arc_challenge": {"instruction": arc["question"], "output": f"The answer is: {gold}"},
        "mmlu": {"instruction": f"{mmlu['question']}\n{options}", "output": "ABCD"[mmlu["answer"]]},
        "hellaswag": {
            "instruction": "Continue the story.",
            "input": hs["ctx"],
            "output": hs["endings"][int(hs["label"])],
        },
        "truthfulqa_mc2": {
            "instruction": tqa["question"],
            "output": tqa["mc1_targets"]["choices"][0],
        },
    }


@pytest.fixture(scope="module")
def v1_state(tmp_path_factory) -> StateDir:
    """A state folder for this module: the v1 index (~45 s to build) is built once."""
    return StateDir.at(tmp_path_factory.mktemp("v1-decontam"))


def test_planted_benchmark_items_are_dropped_exactly(
    benchmarks: Path, repo: Path, tmp_path: Path, smollm2, v1_state: StateDir
) -> None:
    demo = [json.loads(x) for x in (repo / "data/demo/instructions.jsonl").read_text().splitlines()]
    planted = planted_items(benchmarks)
    rows, where = list(demo), {}
    for k, (name, item) in enumerate(planted.items()):
        pos = 40 + 70 * k
        rows.insert(pos, item)
        where[pos + 1] = name  # 1-based row numbers in the report
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = DataConfig.model_validate(
        {"sources": [{"path": str(src)}], "decontamination": {"benchmarks": str(benchmarks)}}
    )
    state = v1_state
    data = prepare_data(cfg, smollm2.path, state, EvalConfig(suite="open-llm-v1"))
    d = data.report.decontamination
    assert d.benchmarks == f"mirror:{benchmarks.resolve()}" and d.suite == "open-llm-v1"
    assert d.index is not None
    assert d.index.items == 1172 + 10042 + 14042 + 817  # every evaluation document
    assert {e.row: e.benchmark for e in d.examples} == where
    assert {k: v.examples for k, v in d.per_benchmark.items()} == dict.fromkeys(planted, 1)
    # an item may share n-grams with a few others (e.g. near-identical MMLU moral scenarios)
    assert all(1 <= v.items <= 10 for v in d.per_benchmark.values())
    assert d.contaminated_examples == d.dropped == 4 and d.clean
    clean = prepare_data(
        DataConfig.model_validate(
            {**cfg.model_dump(), "sources": [{"path": str(repo / "data/demo/instructions.jsonl")}]}
        ),
        smollm2.path,
        state,
    )
    assert clean.report.decontamination.contaminated_examples == 0
    assert clean.report.decontamination.index.cached  # built once, reused
    assert data.report.examples == clean.report.examples  # only the planted rows went


def test_disguised_items_are_all_found_and_pools_kept(
    benchmarks: Path, repo: Path, tmp_path: Path, smollm2, v1_state: StateDir
) -> None:
    demo = [
        json.loads(x) for x in (repo / "data/demo/instructions.jsonl").read_text().split("\n") if x
    ]
    leaks, pools = leaked_items(benchmarks), pool_items(benchmarks)
    rows: list[dict] = list(demo)
    for k, item in enumerate(pools):
        rows.insert(3 + 31 * k, item)
    for k, (_, item) in enumerate(leaks):
        rows.insert(5 + 8 * k, item)
    bench_of = {id(item): name for name, item in leaks}
    planted = {i + 1: bench_of[id(r)] for i, r in enumerate(rows) if id(r) in bench_of}
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = DataConfig.model_validate(
        {
            "sources": [{"path": str(src)}],
            "dedup": {"exact": False, "near": False},  # every demo row counts as clean
            "decontamination": {"benchmarks": str(benchmarks), "max_reported": 100},
        }
    )
    data = prepare_data(cfg, smollm2.path, v1_state, EvalConfig(suite="open-llm-v1"))
    d = data.report.decontamination
    found = {e.row: e.benchmark for e in d.examples}
    assert found == planted  # all 40, each under its own benchmark; nothing else
    assert {k: v.examples for k, v in d.per_benchmark.items()} == dict.fromkeys(
        ["arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2"], 10
    )
    assert data.report.examples == len(demo) + len(pools)  # clean rows and pools kept
