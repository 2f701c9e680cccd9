"""Decontamination against the real Korean suite (`ko-public`: the KoBEST and KMMLU test sets
in ../shared/benchmarks-ko, read through climb's suite, lm-eval's own kobest_* and kmmlu_* task
configs and the mirror): 54 disguised test items (tests/integration/data_leaks_ko.py: particles
changed, spacing changed, jamo, full-width, reordered, harness format) planted among the 60 clean
Korean demo rows (data/demo-ko, alpaca and messages) and 16 disguised few-shot-pool items
(KoBEST train, KMMLU dev) are all dropped, each reported under its own benchmark and lm-eval task;
no clean row and no pool item is dropped; the index is built once and reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.config import DataConfig, EvalConfig
from climb.data.prepare import prepare_data
from climb.state import StateDir
from tests.integration.data_leaks_ko import KOBEST, leaked_items, pool_items

pytestmark = [pytest.mark.integration, pytest.mark.shared]

KOBEST_TEST_DOCS = 1404 + 1000 + 500 + 397 + 1260
KMMLU_TEST_DOCS = 35_030


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def test_disguised_korean_items_are_all_dropped_and_clean_rows_kept(
    benchmarks_ko: Path, repo: Path, tmp_path: Path, smollm2
) -> None:
    demo = _lines(repo / "data/demo-ko/instructions.jsonl")
    chats = repo / "data/demo-ko/chats.jsonl"
    leaks, pools = leaked_items(benchmarks_ko), pool_items(benchmarks_ko)
    rows: list[dict] = list(demo)
    for k, item in enumerate(pools):
        rows.insert(2 + 7 * k, item)
    for k, (_, _, item) in enumerate(leaks):
        rows.insert(1 + 2 * k, item)
    where = {id(item): (bench, task) for bench, task, item in leaks}
    planted = {i + 1: where[id(r)] for i, r in enumerate(rows) if id(r) in where}
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    cfg = DataConfig.model_validate(
        {
            "sources": [{"path": str(src)}, {"path": str(chats), "format": "messages"}],
            "decontamination": {"max_reported": 100},
            "max_length": 2048,  # Korean BoolQ passages pass 512 of SmolLM2's tokens
        }
    )
    eval_cfg = EvalConfig(suite="ko-public", data_dir=str(benchmarks_ko))
    state = StateDir.at(tmp_path / "state")
    data = prepare_data(cfg, smollm2.path, state, eval_cfg)
    d = data.report.decontamination
    assert d.suite == "ko-public" and d.benchmarks == f"mirror:{benchmarks_ko.resolve()}"
    assert d.index is not None and d.index.items == KOBEST_TEST_DOCS + KMMLU_TEST_DOCS
    found = {e.row: e.benchmark for e in d.examples}
    assert all(e.source == str(src) for e in d.examples)
    assert found == {row: bench for row, (bench, _) in planted.items()}  # all 54; nothing else
    for e in d.examples:  # under its own task (KMMLU repeats a few questions across subjects)
        assert planted[e.row][1] in e.tasks and e.task in e.tasks
    assert d.contaminated_examples == d.dropped == len(leaks) == 54 and d.clean
    per = d.per_benchmark
    assert {b: v.examples for b, v in per.items()} == {"kobest": 30, "kmmlu": 24}
    assert per["kobest"].tasks == {f"kobest_{t}": 6 for t in KOBEST}
    kmmlu_tasks = {task for bench, task, _ in leaks if bench == "kmmlu"}
    assert kmmlu_tasks <= set(per["kmmlu"].tasks) and all(
        t.startswith("kmmlu_") for t in per["kmmlu"].tasks
    )
    assert data.report.skipped == {"contaminated": 54}
    assert data.report.examples == len(demo) + len(pools) + 12  # clean rows, pools, chats kept
    clean = prepare_data(
        DataConfig.model_validate({**cfg.model_dump(), "sources": cfg.model_dump()["sources"][1:]}),
        smollm2.path,
        state,
        eval_cfg,
    )
    assert clean.report.decontamination.contaminated_examples == 0
    assert clean.report.decontamination.index.cached  # built once, reused
