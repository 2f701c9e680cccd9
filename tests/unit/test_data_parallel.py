"""Parallel preparation: the same dataset (digest, report counts) at any number of processes and
chunk size, across sources mixed by weight, with dedup across chunks, an eval split and packing;
`max_examples` stops the workers; the default number of processes follows the cgroup CPU quota
(a pod's CPU limit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import climb.data.pipeline as pipeline
from climb.data.parallel import available_cpus, cgroup_cpu_limit, ordered_map
from climb.data.prepare import prepare_data
from climb.state import StateDir
from tests.unit.test_data_sources import GOOD, data_cfg, write_jsonl


def _rows() -> list[dict]:
    rows = [
        {
            "instruction": f"Question {i}: what is {i} times {i + 3}?",
            "output": f"{i} times {i + 3} is {i * (i + 3)}; " + "so it goes. " * (i % 7),
        }
        for i in range(150)
    ]
    rows += [rows[5], rows[77], {**rows[9], "instruction": rows[9]["instruction"].upper()}]
    rows += [{"instruction": "Say it.", "output": "It " * 400}]  # too long
    return rows


@pytest.mark.parametrize("packing", ["none", "packed"])
def test_same_dataset_at_any_num_proc(tmp_path: Path, smollm2, monkeypatch, packing) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", _rows())
    b = write_jsonl(tmp_path / "b.jsonl", GOOD)
    sources = [{"path": str(a)}, {"path": str(b), "weight": 1.5}]
    extra = {"eval_fraction": 0.1, "max_length": 256, "packing": {"mode": packing}}
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 16)  # many chunks: order and dedup across them
    runs = {}
    for n in (1, 2, 3):
        cfg = data_cfg(sources, num_proc=n, dedup={"near": True}, **extra)
        runs[n] = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / f"s{n}"))
    first = runs[1]
    skipped = first.report.skipped
    assert skipped["exact_duplicate"] == 3 and skipped["too_long"] == 1
    assert skipped["near_duplicate"] > 0  # the templated rows: dedup works across chunks
    assert first.report.processing.chunks > 8 and first.report.eval_examples > 0
    for n in (2, 3):
        assert runs[n].report.processing.num_proc == n
        assert runs[n].digest == first.digest, n
        assert runs[n].key == first.key  # num_proc is not part of the content
        for k in ("examples", "tokens", "trainable_tokens", "skipped", "sources", "dedup"):
            assert getattr(runs[n].report, k) == getattr(first.report, k), k


def test_max_examples_stops_the_workers(tmp_path: Path, smollm2, monkeypatch) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", _rows()[:150])
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 8)
    data = prepare_data(
        data_cfg([{"path": str(src)}], num_proc=2, max_examples=20),
        smollm2.path,
        StateDir.at(tmp_path / "s"),
    )
    assert data.report.examples == 20 and data.report.rows_read == 20
    assert data.report.processing.chunks < 150 // 8  # did not read everything


def test_ordered_map_keeps_order_and_raises() -> None:
    out = list(ordered_map(_Square, 3, iter(range(40)), num_proc=2))
    assert out == [3 * i * i for i in range(40)]
    with pytest.raises(ValueError, match="bad chunk 7"):
        list(ordered_map(_Square, 1, iter(range(10)), num_proc=2))


class _Square:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        if self.factor == 1 and x == 7:
            raise ValueError(f"bad chunk {x}")
        return self.factor * x * x


def test_cpus_follow_the_cgroup_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(v2) is None and available_cpus(v2) == cores
    (v2 / "cpu.max").write_text("150000 100000\n")  # a pod limit of 1.5 CPUs
    assert cgroup_cpu_limit(v2) == 1.5 and available_cpus(v2) == min(cores, 2)
    (v2 / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(v2) == 1
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1) == 1.0 and available_cpus(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1) is None
    assert available_cpus(tmp_path / "none") == cores
