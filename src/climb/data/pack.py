"""Turning tokenised examples into training rows, with statistics.

- `none`: one example per row (input_ids, labels) - the format the trainer's
  DataCollatorForSeq2Seq reads; padding is estimated for micro-batches in file order.
- `packed`: examples concatenated into rows of at most `length` tokens (first fit over a few
  open rows, so memory stays bounded), never split across rows. `position_ids` restart at 0 for
  each example: with padding-free attention (or transformers' packed-sequence masks, which are
  built from position_ids when no attention_mask is passed) no token attends across examples.
  The first label of every example is -100, so no example's first token is predicted from the
  previous example's last one.
- `padded`: one example per row, padded to `length` (pad id, label -100, attention_mask 0).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

IGNORE_INDEX = -100
OPEN_ROWS = 8
LENGTH_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
COLUMNS = {
    "none": ("input_ids", "labels"),
    "packed": ("input_ids", "labels", "position_ids"),
    "padded": ("input_ids", "labels", "attention_mask"),
}
Example = dict[str, Any]  # column -> 1-D integer array (or list)
Row = dict[str, Any]


def bucket(n: int) -> str:
    """Return the length-histogram bucket of `n` tokens (`<=64` ... `>8192`)."""
    for b in LENGTH_BUCKETS:
        if n <= b:
            return f"<={b}"
    return f">{LENGTH_BUCKETS[-1]}"


class RowBuilder:
    """Collects examples of one split and returns finished rows, counting tokens and padding."""

    def __init__(self, mode: str, length: int, pad_id: int, stats_batch_size: int) -> None:
        """`mode`: none | packed | padded; `length`: row length; `pad_id`: padding token id;
        `stats_batch_size`: micro-batch size for the padding estimate of mode `none`."""
        self.mode, self.length, self.pad_id = mode, length, pad_id
        self.batch_size = stats_batch_size
        self.open: list[list[Example]] = []
        self.open_sizes: list[int] = []
        self.batch: list[int] = []
        self.rows = 0
        self.tokens = 0
        self.padding = 0
        self.row_lengths: Counter[str] = Counter()

    def add(self, ex: Example) -> list[Row]:
        """Add one tokenised example; return the rows it completes (possibly none)."""
        if self.mode == "packed":
            return self._pack(ex)
        if self.mode == "padded":
            return [self._finish_padded(ex)]
        self._count_batch(len(ex["input_ids"]))
        return [self._emit(ex)]

    def finish(self) -> list[Row]:
        """Return the rows still open (call once, at the end of the split)."""
        rows = [self._finish_packed(docs) for docs in self.open]
        self.open, self.open_sizes = [], []
        if self.batch:
            self._flush_batch()
        return rows

    def _emit(self, row: Row) -> Row:
        self.rows += 1
        self.row_lengths[bucket(len(row["input_ids"]))] += 1
        return row

    def _count_batch(self, n: int) -> None:
        self.tokens += n
        self.batch.append(n)
        if len(self.batch) == self.batch_size:
            self._flush_batch()

    def _flush_batch(self) -> None:
        self.padding += max(self.batch) * len(self.batch) - sum(self.batch)
        self.batch = []

    def _pack(self, ex: Example) -> list[Row]:
        n = len(ex["input_ids"])
        for i, size in enumerate(self.open_sizes):
            if size + n <= self.length:
                self.open[i].append(ex)
                self.open_sizes[i] += n
                return []
        done = []
        if len(self.open) >= OPEN_ROWS:
            fullest = max(range(len(self.open)), key=self.open_sizes.__getitem__)
            self.open_sizes.pop(fullest)
            done.append(self._finish_packed(self.open.pop(fullest)))
        self.open.append([ex])
        self.open_sizes.append(n)
        return done

    def _finish_packed(self, docs: list[Example]) -> Row:
        sizes = [len(d["input_ids"]) for d in docs]
        labels = np.concatenate([np.asarray(d["labels"], dtype=np.int64) for d in docs])
        labels[np.cumsum([0, *sizes[:-1]])] = IGNORE_INDEX
        row = {
            "input_ids": np.concatenate([np.asarray(d["input_ids"], np.int64) for d in docs]),
            "labels": labels,
            "position_ids": np.concatenate([np.arange(n, dtype=np.int64) for n in sizes]),
        }
        n = len(row["input_ids"])
        self.tokens += n
        self.padding += self.length - n
        return self._emit(row)

    def _finish_padded(self, ex: Example) -> Row:
        n = len(ex["input_ids"])
        pad = self.length - n
        self.tokens += n
        self.padding += pad
        return self._emit(
            {
                "input_ids": np.concatenate(
                    [np.asarray(ex["input_ids"], np.int64), np.full(pad, self.pad_id, np.int64)]
                ),
                "labels": np.concatenate(
                    [np.asarray(ex["labels"], np.int64), np.full(pad, IGNORE_INDEX, np.int64)]
                ),
                "attention_mask": np.concatenate([np.ones(n, np.int64), np.zeros(pad, np.int64)]),
            }
        )

    def stats(self) -> dict[str, Any]:
        """Return rows, tokens, padding tokens and ratio, and the row-length histogram."""
        total = self.tokens + self.padding
        return {
            "rows": self.rows,
            "tokens": self.tokens,
            "padding_tokens": self.padding,
            "padding_ratio": round(self.padding / total, 4) if total else 0.0,
            "row_length_histogram": {
                b: self.row_lengths[b]
                for b in map(bucket, [*LENGTH_BUCKETS, LENGTH_BUCKETS[-1] + 1])
                if self.row_lengths[b]
            },
        }
