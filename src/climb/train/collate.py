"""Collators for the three dataset layouts the data stage writes.

- one example per row (input_ids, labels): dynamic padding, or padding-free flattening when
  `train.packing=padding_free` (position ids restart per example);
- packed rows (input_ids, labels, position_ids, variable length): the micro-batch's rows are
  concatenated into one padding-free row, keeping each row's own position ids, so document
  boundaries inside rows survive (transformers builds block-diagonal masks from position ids,
  flash-attention uses them as varlen boundaries);
- padded rows (with attention_mask, fixed length): stacked as they are.
"""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100


class PackedRowsCollator:
    """Concatenate pre-packed rows into one [1, total] batch with their own position ids."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        """Return input_ids, labels and position_ids tensors of shape [1, sum of row lengths]."""
        import torch

        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for f in features:
            ids += list(f["input_ids"])
            # The first token of a row is never predicted from the previous row's last token.
            labels += [IGNORE_INDEX, *list(f["labels"])[1:]]
            pos += list(f["position_ids"])
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([pos], dtype=torch.long),
        }


def data_collator(tokenizer: Any, packing: str, columns: list[str]) -> Any:
    """Return the collator for a dataset with `columns` and the configured packing."""
    from transformers import (
        DataCollatorForSeq2Seq,
        DataCollatorWithFlattening,
        default_data_collator,
    )

    if "position_ids" in columns:
        return PackedRowsCollator()
    if "attention_mask" in columns:
        return default_data_collator
    if packing == "padding_free":
        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
