"""Padding-free batches: packed rows and flattened examples give every token the same logits as
the example alone (no attention across examples), on a tiny random Llama with SDPA.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from climb.train.collate import IGNORE_INDEX, PackedRowsCollator, data_collator


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(
        tiny_model, dtype=torch.float32, attn_implementation="sdpa"
    )
    return m.eval()


def _alone(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


def test_packed_rows_do_not_attend_across_documents(model) -> None:
    a, b, c = [5, 17, 99, 1000, 7], [300, 301, 302], [42, 43, 44, 45]
    rows = [
        {"input_ids": a + b, "labels": a + b, "position_ids": [*range(5), *range(3)]},
        {"input_ids": c, "labels": c, "position_ids": list(range(4))},
    ]
    batch = PackedRowsCollator()(rows)
    assert batch["input_ids"].shape == (1, 12)
    assert batch["labels"][0, 0] == IGNORE_INDEX and batch["labels"][0, 8] == IGNORE_INDEX
    with torch.no_grad():
        packed = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits[0]
    torch.testing.assert_close(packed[:5], _alone(model, a), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[5:8], _alone(model, b), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[8:], _alone(model, c), atol=1e-5, rtol=1e-4)


def test_padding_free_flattening_matches_examples_alone(model, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    a, b = [11, 12, 13, 14], [900, 901, 902, 903, 904, 905]
    collate = data_collator(tok, "padding_free", ["input_ids", "labels"])
    batch = collate([{"input_ids": a, "labels": a}, {"input_ids": b, "labels": b}])
    assert batch["input_ids"].shape == (1, 10)
    assert "attention_mask" not in batch
    with torch.no_grad():
        flat = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits[0]
    torch.testing.assert_close(flat[4:], _alone(model, b), atol=1e-5, rtol=1e-4)
    # The loss sees no padding: every label is a real token or a boundary separator.
    assert int((batch["labels"] == IGNORE_INDEX).sum()) == 2


def test_collator_choice_follows_the_dataset_layout(tiny_model: Path) -> None:
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, default_data_collator

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert isinstance(
        data_collator(tok, "none", ["input_ids", "labels", "position_ids"]), PackedRowsCollator
    )
    assert (
        data_collator(tok, "none", ["input_ids", "labels", "attention_mask"])
        is default_data_collator
    )
    assert isinstance(data_collator(tok, "none", ["input_ids", "labels"]), DataCollatorForSeq2Seq)


def test_the_trainers_model_gets_packed_masks_without_being_told(tiny_model: Path) -> None:
    """The model as the trainer builds it (LoRA, default forward kwargs) keeps documents apart."""
    from climb.config import TrainConfig
    from climb.train.trainer import build_model

    model = build_model(str(tiny_model), TrainConfig(method="lora"), cuda=False).eval()
    a, b = [5, 6, 7, 8], [70, 71, 72]
    batch = PackedRowsCollator()(
        [{"input_ids": a + b, "labels": a + b, "position_ids": [*range(4), *range(3)]}]
    )
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        alone = model(input_ids=torch.tensor([b])).logits[0]
    torch.testing.assert_close(packed[4:], alone, atol=1e-5, rtol=1e-4)
