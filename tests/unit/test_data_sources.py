"""Sources: local formats, every bad-row kind counted per reason, unreadable sources fail with
their name, Hub datasets through `datasets.load_dataset` (streaming, on a local folder), weights.
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
    {
        "instruction": f"Name a fact about the number {i}.",
        "output": f"The number {i} is {'even' if i % 2 == 0 else 'odd'} and follows {i - 1}.",
    }
    for i in range(1, 9)
]


def data_cfg(sources: list[dict], **extra) -> DataConfig:
    """A data config with decontamination and near-dedup off unless a test turns them on."""
    base = {"decontamination": {"enabled": False}, "dedup": {"near": False}, "sources": sources}
    return DataConfig.model_validate({**base, **extra})


def shared_state(tmp_path_factory) -> StateDir:
    """One state folder per test session, so the smoke suite's n-gram index is built once."""
    return StateDir.at(tmp_path_factory.getbasetemp() / "data-shared-state")


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_bad_row_kind_is_counted(tmp_path: Path, smollm2) -> None:
    alpaca = tmp_path / "alpaca.jsonl"
    lines = [json.dumps(r) for r in GOOD[:3]] + [
        '{"instruction": "broken json",',  # invalid_json
        json.dumps(["not", "an", "object"]),  # not_an_object
        json.dumps({"output": "no instruction"}),  # missing_field
        json.dumps({"instruction": "Add 2 and 3.", "output": 5}),  # wrong_type
        json.dumps({"instruction": "Say something.", "output": "   "}),  # empty_text
    ]
    alpaca.write_bytes(("\n".join(lines) + "\n").encode() + b'{"instruction": "\xff\xfe"}\n')
    chat = write_jsonl(
        tmp_path / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "Hi there, who are you?"},
                    {"role": "assistant", "content": "I am a helpful assistant."},
                ]
            },
            {
                "messages": [
                    {"role": "robot", "content": "beep"},
                    {"role": "assistant", "content": "boop"},
                ]
            },  # bad_role
            {"messages": [{"role": "user", "content": "Anyone there?"}]},  # no_response
            {
                "conversations": [
                    {"from": "human", "value": "What is two plus two?"},
                    {"from": "gpt", "value": "Two plus two is four."},
                ]
            },
        ],
    )
    csv_file = tmp_path / "rows.csv"
    csv_file.write_bytes(
        b"instruction,output\nWhat colour is the sky?,The sky is blue.\n"
        b"Bad bytes \xff here,whatever\nToo,many,fields\n"
    )
    cfg = data_cfg(
        [{"path": str(alpaca)}, {"path": str(chat), "format": "messages"}, {"path": str(csv_file)}]
    )
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.skipped == {
        "bad_role": 1,
        "empty_text": 1,
        "invalid_json": 1,
        "missing_field": 1,
        "no_response": 1,
        "not_an_object": 1,
        "undecodable": 2,
        "wrong_type": 2,
    }
    assert data.report.examples == 3 + 2 + 1
    assert data.report.rows_read == 9 + 4 + 3
    per = data.report.sources[str(csv_file)]
    assert per.model_dump() == {
        "rows": 3,
        "kept": 1,
        "skipped": {"undecodable": 1, "wrong_type": 1},
    }


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("missing.jsonl", None, "does not exist"),
        ("broken.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("list.json", b'{"rows": 3}', "must hold a JSON list"),
        ("table.xlsx", b"x", "supported"),
    ],
)
def test_unreadable_source_fails_naming_it(
    tmp_path: Path, smollm2, name: str, content: bytes | None, needle: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    cfg = data_cfg([{"path": str(write_jsonl(tmp_path / "ok.jsonl", GOOD))}, {"path": str(path)}])
    with pytest.raises(SourceError) as err:
        prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert str(path) in str(err.value) and needle in str(err.value)


def test_hub_source_streams_through_load_dataset(tmp_path: Path, smollm2, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "hub" / "team" / "instructions" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(GOOD), folder / "train-00000-of-00001.parquet")
    monkeypatch.chdir(tmp_path)
    cfg = data_cfg([{"path": "hf://datasets/hub/team/instructions", "split": "train"}])
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.examples == len(GOOD)
    manifest = json.loads((Path(data.path) / "manifest.json").read_text())
    assert manifest["sources"][0]["identity"].startswith(
        "hub:hub/team/instructions:None:train:local:"
    )
    bad = data_cfg([{"path": "hf://datasets/hub/team/instructions", "split": "nope"}])
    with pytest.raises(SourceError, match="hf://datasets/hub/team/instructions"):
        prepare_data(bad, smollm2.path, StateDir.at(tmp_path / "state2"))


def test_weights_repeat_examples_and_sources_interleave(tmp_path: Path, smollm2) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", GOOD[:4])
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [
            {
                "instruction": f"Spell the word number {i}.",
                "output": f"Word {i} is spelled w-o-r-d.",
            }
            for i in range(4)
        ],
    )
    cfg = data_cfg([{"path": str(a), "weight": 3.0}, {"path": str(b)}])
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "state"))
    assert data.report.examples == 4 * 3 + 4
    assert data.report.sources[str(a)].kept == 4
