"""The stage as a whole: caching by key (same inputs + config never prepared twice), content
digest, decontamination report as the promotion gate, config sections, lineage entity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.config import ConfigError, DataConfig, load_config
from climb.data.lineage import dataset_input
from climb.data.prepare import preparation_key, prepare_data
from climb.data.report import DataReport, PackingReport, format_report
from climb.records import PreparedData
from climb.state import StateDir
from tests.unit.test_data_sources import GOOD, data_cfg, shared_state, write_jsonl


def test_same_inputs_never_prepared_twice(tmp_path: Path, smollm2, monkeypatch) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", GOOD)
    state = StateDir.at(tmp_path / "s")
    cfg = data_cfg([{"path": str(src)}])
    first = prepare_data(cfg, smollm2.path, state)
    import climb.data.prepare as prep

    monkeypatch.setattr(prep, "_write", lambda *a, **k: pytest.fail("prepared twice"))
    again = prepare_data(cfg, smollm2.path, state)
    assert again.cached and again.digest == first.digest and again.path == first.path
    monkeypatch.undo()
    other_state = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "s2"))
    assert not other_state.cached and other_state.digest == first.digest  # deterministic
    changed = data_cfg([{"path": str(src)}], max_length=256)
    assert preparation_key(changed, smollm2.path) != first.key
    write_jsonl(src, GOOD[:-1])
    assert preparation_key(cfg, smollm2.path) != first.key
    moved = data_cfg([{"path": str(src)}], output={"row_group_rows": 3})
    write_jsonl(src, GOOD)
    assert preparation_key(moved, smollm2.path) == first.key  # where it goes is not content


def test_decontamination_report_gates_promotion(tmp_path: Path, smollm2, tmp_path_factory) -> None:
    from climb.resources import smoke_benchmarks_dir

    mmlu = json.loads(
        (smoke_benchmarks_dir() / "mmlu" / "mmlu_test.jsonl").read_text().splitlines()[5]
    )
    options = "\n".join(f"{k}. {c}" for k, c in zip("ABCD", mmlu["choices"], strict=True))
    leaked = {"instruction": f"{mmlu['question']}\n{options}", "output": "ABCD"[mmlu["answer"]]}
    src = write_jsonl(tmp_path / "a.jsonl", [*GOOD, leaked])
    state = shared_state(tmp_path_factory)
    base = {"sources": [{"path": str(src)}], "dedup": {"near": False}}
    dropped = prepare_data(DataConfig.model_validate(base), smollm2.path, state)
    d = dropped.report.decontamination
    assert d.clean and d.contaminated_examples == 1 and d.dropped == 1
    assert {k: v.model_dump() for k, v in d.per_benchmark.items()} == {
        "mmlu": {"examples": 1, "items": 1}
    }
    assert d.examples[0].row == len(GOOD) + 1 and d.examples[0].benchmark == "mmlu"
    assert dropped.report.examples == len(GOOD)
    kept = prepare_data(
        DataConfig.model_validate({**base, "decontamination": {"action": "report"}}),
        smollm2.path,
        state,
    )
    assert not kept.report.decontamination.clean and kept.report.examples == len(GOOD) + 1
    with pytest.raises(ValueError, match="overlap the suite"):
        prepare_data(
            DataConfig.model_validate({**base, "decontamination": {"action": "fail"}}),
            smollm2.path,
            state,
        )
    off = prepare_data(data_cfg([{"path": str(src)}]), smollm2.path, state)
    assert not off.report.decontamination.enabled and not off.clean
    assert off.report.decontamination.reason == "data.decontamination.enabled is false: not checked"
    text = format_report(dropped)
    assert "1 contaminated" in text and "mmlu: 1 examples" in text


def test_data_config_sections(repo: Path) -> None:
    cfg = load_config(repo / "config" / "demo.yaml")
    assert cfg.data.decontamination.enabled and cfg.data.packing.mode == "none"
    with pytest.raises(ConfigError, match=r"data\.dedup\.treshold: unknown field"):
        load_config(repo / "config" / "demo.yaml", ["data.dedup.treshold=0.5"])
    assert cfg.data.num_proc is None  # every core this process may use
    assert load_config(repo / "config" / "demo.yaml", ["data.num_proc=3"]).data.num_proc == 3
    with pytest.raises(ConfigError, match=r"data\.num_proc"):
        load_config(repo / "config" / "demo.yaml", ["data.num_proc=0"])
    with pytest.raises(ConfigError, match=r"packing\.length"):
        load_config(repo / "config" / "demo.yaml", ["data.packing.length=64"])
    with pytest.raises(ConfigError, match=r"subset/revision"):
        load_config(repo / "config" / "demo.yaml", ["data.sources=[{path: a.jsonl, subset: x}]"])


def test_lineage_entity_fits_mlflow() -> None:
    data = PreparedData(
        path="/tmp/ds",
        uri="s3://bucket/ds/abc",
        digest="f" * 64,
        key="k",
        cached=False,
        seconds=1.0,
        report=DataReport(examples=3, tokens=30, packing=PackingReport(columns=["input_ids"])),
    )
    di = dataset_input(data, "demo-data")
    assert di.dataset.digest == "f" * 32 and di.dataset.source_type == "s3"
    assert json.loads(di.dataset.source) == {"uri": "s3://bucket/ds/abc"}
    assert di.tags[0].key == "mlflow.data.context" and di.tags[0].value == "train"
