"""Malformed data files and rows: counted skips or a clear error naming the source, before
training starts - never a crash deep in training. (Each bad-row kind per format is covered in
tests/unit/test_data_sources.py; this is the file-level matrix of issue 8.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.config import DataConfig
from climb.data.prepare import prepare_data
from climb.data.sources import SourceError
from climb.state import StateDir

GOOD = [
    {"instruction": f"What is {i} plus {i}?", "output": f"{i} plus {i} is {2 * i}."}
    for i in range(1, 7)
]


def _cfg(path: Path, **extra) -> DataConfig:
    return DataConfig.model_validate(
        {
            "sources": [{"path": str(path)}],
            "decontamination": {"enabled": False},
            "dedup": {"near": False},
            "max_length": 256,
            **extra,
        }
    )


def _jsonl(rows: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _parquet(path: Path, table: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(table), path)


@pytest.mark.parametrize(
    ("name", "content", "skipped"),
    [
        # truncated JSONL: the writer died mid-line
        ("truncated.jsonl", _jsonl(GOOD) + b'{"instruction": "What is 9 plus', {"invalid_json": 1}),
        # one row far longer than data.max_length
        (
            "huge.jsonl",
            _jsonl([*GOOD, {"instruction": "Repeat.", "output": "word " * 5000}]),
            {"too_long": 1},
        ),
        # Latin-1 bytes in a UTF-8 file
        (
            "latin1.jsonl",
            _jsonl(GOOD) + '{"instruction": "Caf\xe9?", "output": "Oui."}\n'.encode("latin-1"),
            {"undecodable": 1},
        ),
        # the wrong schema: a chat file read as alpaca
        (
            "wrong-schema.jsonl",
            _jsonl([*GOOD, {"messages": [{"role": "user", "content": "hi"}]}]),
            {"missing_field": 1},
        ),
        # blank lines and whitespace-only lines are not rows
        ("blank-lines.jsonl", b"\n   \n" + _jsonl(GOOD) + b"\n\n", {}),
    ],
)
def test_bad_rows_are_counted_not_fatal(
    name: str, content: bytes, skipped: dict, tmp_path: Path, smollm2
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    data = prepare_data(_cfg(path), smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.examples == len(GOOD)
    for reason, count in skipped.items():
        assert data.report.skipped.get(reason) == count, data.report.skipped


def test_wrong_parquet_schema_is_counted(tmp_path: Path, smollm2) -> None:
    path = tmp_path / "wrong.parquet"
    _parquet(path, {"question": ["What is 1 plus 1?"] * 3, "answer": ["2"] * 3})
    good = tmp_path / "good.jsonl"
    good.write_bytes(_jsonl(GOOD))
    cfg = DataConfig.model_validate(
        {
            "sources": [{"path": str(good)}, {"path": str(path)}],
            "decontamination": {"enabled": False},
            "dedup": {"near": False},
        }
    )
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.skipped.get("missing_field") == 3
    assert data.report.examples == len(GOOD)


def test_column_mapping_fixes_the_wrong_schema(tmp_path: Path, smollm2) -> None:
    path = tmp_path / "mapped.parquet"
    _parquet(
        path, {"question": [r["instruction"] for r in GOOD], "answer": [r["output"] for r in GOOD]}
    )
    cfg = DataConfig.model_validate(
        {
            "sources": [
                {"path": str(path), "columns": {"instruction": "question", "output": "answer"}}
            ],
            "decontamination": {"enabled": False},
            "dedup": {"near": False},
        }
    )
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.examples == len(GOOD)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", b""),
        ("all-bad.jsonl", b'{"nope": 1}\n{"nope": 2}\n'),
    ],
)
def test_nothing_usable_is_a_clear_error_before_training(
    name: str, content: bytes, tmp_path: Path, smollm2
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    state = StateDir.at(tmp_path / "state")
    with pytest.raises((ValueError, SourceError)) as err:
        prepare_data(_cfg(path), smollm2.path, state)
    assert "no usable rows" in str(err.value) or str(path) in str(err.value)
    # nothing half-written is left where the next run would trust it
    assert not list(state.datasets.glob("*/manifest.json")) if state.datasets.exists() else True


def test_not_a_parquet_file_names_the_source(tmp_path: Path, smollm2) -> None:
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"PAR1 but not really")
    with pytest.raises(SourceError) as err:
        prepare_data(_cfg(path), smollm2.path, StateDir.at(tmp_path / "state"))
    assert str(path) in str(err.value)
