"""Packing and padding: rows keep example boundaries (position_ids, first labels masked), no
token attends across examples in a real (tiny) Llama, padded rows, and the non-packed output
still reads through the trainer's collator."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from climb.data.pack import IGNORE_INDEX, RowBuilder
from climb.data.prepare import prepare_data
from climb.state import StateDir
from tests.unit.test_data_sources import GOOD, data_cfg, write_jsonl


def ex(start: int, n: int) -> dict[str, list[int]]:
    ids = list(range(start, start + n))
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * (n // 2) + ids[n // 2 :]}


def lists(row: dict) -> dict[str, list[int]]:
    """A row's columns (integer arrays) as lists."""
    return {k: [int(x) for x in v] for k, v in row.items()}


def test_packed_rows_keep_boundaries() -> None:
    b = RowBuilder("packed", length=32, pad_id=0, stats_batch_size=8)
    docs = [ex(100 * i, n) for i, n in enumerate([10, 20, 12, 30, 5, 17, 9])]
    rows = [lists(r) for d in docs for r in b.add(d)] + [lists(r) for r in b.finish()]
    assert all(len(r["input_ids"]) <= 32 for r in rows)
    seen = []
    for r in rows:
        assert len(r["input_ids"]) == len(r["labels"]) == len(r["position_ids"])
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        bounds = [*starts, len(r["input_ids"])]
        for s, e in itertools.pairwise(bounds):
            seen.append(r["input_ids"][s:e])
            assert r["position_ids"][s:e] == list(range(e - s))
            assert r["labels"][s] == IGNORE_INDEX
    assert sorted(map(tuple, seen)) == sorted(tuple(d["input_ids"]) for d in docs)
    stats = b.stats()
    assert stats["tokens"] == sum(len(d["input_ids"]) for d in docs) == 103
    assert stats["padding_tokens"] == 32 * len(rows) - 103
    assert stats["padding_ratio"] == round((32 * len(rows) - 103) / (32 * len(rows)), 4)


def test_padded_rows_and_padding_estimate() -> None:
    b = RowBuilder("padded", length=16, pad_id=7, stats_batch_size=8)
    row = lists(b.add(ex(1, 10))[0])
    assert row["input_ids"][10:] == [7] * 6 and row["labels"][10:] == [IGNORE_INDEX] * 6
    assert row["attention_mask"] == [1] * 10 + [0] * 6
    none = RowBuilder("none", length=16, pad_id=0, stats_batch_size=2)
    for n in (4, 8, 6):
        none.add(ex(0, n))
    none.finish()
    assert none.stats()["padding_tokens"] == 4  # batches [4, 8] and [6]


def test_packed_row_has_no_cross_example_attention() -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=512,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    ).eval()  # a tiny random Llama
    a, c = ex(11, 9), ex(300, 14)  # ids < vocab_size
    b = RowBuilder("packed", length=64, pad_id=0, stats_batch_size=8)
    row = lists((b.add(a) + b.add(c) + b.finish())[0])
    with torch.no_grad():
        # as in training: no KV cache, position_ids and no attention_mask -> transformers builds
        # a block-diagonal mask from the position_ids
        packed = model(
            input_ids=torch.tensor([row["input_ids"]]),
            use_cache=False,
            position_ids=torch.tensor([row["position_ids"]]),
        ).logits[0]
        alone = [model(input_ids=torch.tensor([d["input_ids"]])).logits[0] for d in (a, c)]
    torch.testing.assert_close(packed, torch.cat(alone), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        leaky = model(input_ids=torch.tensor([row["input_ids"]]), use_cache=False).logits[0]
    assert not torch.allclose(leaky[9:], alone[1], atol=1e-3)  # the check can fail


@pytest.mark.parametrize(
    "mode,columns",
    [("none", ["input_ids", "labels"]), ("packed", ["input_ids", "labels", "position_ids"])],
)
def test_output_columns_and_trainer_collator(
    tmp_path: Path, smollm2, mode: str, columns: list[str]
) -> None:
    import datasets
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq

    src = write_jsonl(tmp_path / "a.jsonl", GOOD)
    cfg = data_cfg([{"path": str(src)}], max_length=128, packing={"mode": mode})
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "s"))
    ds = datasets.Dataset.from_parquet(str(Path(data.path) / "train.parquet"))
    assert ds.column_names == columns
    assert data.report.packing.columns == columns
    tokens = sum(len(r) for r in ds["input_ids"])
    assert tokens == data.report.tokens
    if mode == "none":
        assert len(ds) == len(GOOD)
        tok = AutoTokenizer.from_pretrained(smollm2.path)
        batch = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)(
            [ds[i] for i in range(4)]
        )
        assert batch["input_ids"].shape == batch["labels"].shape
    else:
        assert len(ds) < len(GOOD) and max(len(r) for r in ds["input_ids"]) <= 128
