"""Short benchmark questions with their answers.

A question of 3 to `min_words - 1` words ("Are you a human?", "The name for CH3CHBrCHClCH2CH3
is") is too short to be matched alone without flagging clean text; it counts as leaked when a
training text holds it whole and, at most GAP words after it, one of the item's answers (a choice
or the gold answer) whole, and question and answer together have at least `min_words` words. The
pairs are a small sorted array keyed by the question's hash (questions that more than
`boilerplate_items` items share, such as "Which of the following is true?", are left out), looked
up with the same window hashes as the n-grams.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from climb.data.ngrams import (
    WordHasher,
    bitmap_bits,
    bitmap_has,
    build_bitmap,
    sequence_hash,
    window_hashes,
)
from climb.data.textnorm import normalise_text, words

GAP = 10  # words allowed between a short question and its answer ("The correct answer is")
FILE = "pairs.npz"


class PairBuilder:
    """Collects (question, answer) pairs of the items while the index is built."""

    def __init__(self, min_words: int, boilerplate_items: int, hasher: WordHasher) -> None:
        """`min_words`: questions shorter than this (and >= 3 words) are paired; pairs of
        fewer than `min_words` words in all are not kept; questions of more than
        `boilerplate_items` items are boilerplate."""
        self.min_words, self.boilerplate = min_words, boilerplate_items
        self.hasher = hasher
        self.rows: list[tuple[int, int, int, int, int]] = []

    def add(self, item: int, questions: tuple[str, ...], answers: tuple[str, ...]) -> None:
        """Add the pairs of one item."""
        answer_words = [words(normalise_text(a)) for a in dict.fromkeys(answers)]
        short = [a for a in answer_words if 0 < len(a) < self.min_words]
        for q in dict.fromkeys(questions):
            qw = words(normalise_text(q))
            if not 3 <= len(qw) < self.min_words:
                continue
            qh = sequence_hash(self.hasher, qw)
            for aw in short:
                if len(qw) + len(aw) >= self.min_words:
                    ah = sequence_hash(self.hasher, aw)
                    self.rows.append((qh, len(qw), item, ah, len(aw)))

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the pairs (boilerplate questions left out) into `folder`; return metadata."""
        import numpy as np

        rows = sorted(set(self.rows))
        q = np.array([r[0] for r in rows], dtype=np.uint64)
        item = np.array([r[2] for r in rows], dtype=np.int32)
        keep = np.ones(len(rows), dtype=bool)
        if len(rows):
            uq, inverse = np.unique(q, return_inverse=True)
            items_per_q = np.zeros(len(uq), dtype=np.int64)
            pairs = np.unique(np.stack([inverse, item]), axis=1)
            np.add.at(items_per_q, pairs[0], 1)
            keep = items_per_q[inverse] <= self.boilerplate
        kept = [r for r, k in zip(rows, keep, strict=True) if k]
        arrays = {
            name: np.array([r[i] for r in kept], dtype=dtype)
            for i, (name, dtype) in enumerate(
                [
                    ("q_hash", np.uint64),
                    ("q_len", np.int16),
                    ("item", np.int32),
                    ("a_hash", np.uint64),
                    ("a_len", np.int16),
                ]
            )
        }
        bits = bitmap_bits(len(kept))
        arrays["bitmap"] = build_bitmap(arrays["q_hash"], bits)
        np.savez(folder / FILE, **arrays)  # type: ignore[arg-type]
        return {
            "pairs": len(kept),
            "pair_bits": bits,
            "pair_q_lengths": sorted({int(x) for x in arrays["q_len"]}),
            "pair_a_lengths": sorted({int(x) for x in arrays["a_len"]}),
        }


class PairIndex:
    """The saved pairs; `match` finds short questions followed by one of their answers."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        """Load the pairs written by PairBuilder.save into `folder` (metadata from `meta`)."""
        import numpy as np

        with np.load(folder / FILE) as z:
            self.arrays = {k: z[k] for k in z.files}
        self.bits = meta["pair_bits"]
        self.q_lengths: list[int] = meta["pair_q_lengths"]
        self.a_lengths: list[int] = meta["pair_a_lengths"]

    def match(
        self, norms: list[str], word_hashes: Any, windows: dict[int, Any], row_of: Any, starts: Any
    ) -> dict[int, dict[int, str]]:
        """Return {row: {item: "question ... answer"}} for the normalised texts (`word_hashes`:
        their words hashed, end to end; `windows`: {L: hash of every L-word window} for the
        question lengths; `row_of`: text of each word; `starts`: first word of each text)."""
        import numpy as np

        a = self.arrays
        found: dict[int, dict[int, str]] = {}
        if not len(a["q_hash"]):
            return found
        total = len(word_hashes)
        for n in self.q_lengths:
            q = windows[n]
            if not len(q):
                continue
            pos = np.nonzero(row_of[: len(q)] == row_of[n - 1 : n - 1 + len(q)])[0]
            pos = pos[bitmap_has(a["bitmap"], self.bits, q[pos])]
            left = np.searchsorted(a["q_hash"], q[pos], side="left")
            right = np.searchsorted(a["q_hash"], q[pos], side="right")
            for k in np.nonzero(right > left)[0]:
                p, row = int(pos[k]), int(row_of[pos[k]])
                end = int(starts[row + 1]) if row + 1 < len(starts) else total
                for j in range(int(left[k]), int(right[k])):
                    length = int(a["a_len"][j])
                    lo, hi = p + n, min(p + n + GAP, end - length)
                    if int(a["q_len"][j]) != n or hi < lo:
                        continue
                    near = window_hashes(word_hashes[lo : hi + length], [length])[length]
                    hit = np.nonzero(near == a["a_hash"][j])[0]
                    if not len(hit):
                        continue
                    w = words(norms[row])
                    at, s = p - int(starts[row]), lo + int(hit[0]) - int(starts[row])
                    gram = " ".join(w[at : at + n]) + " ... " + " ".join(w[s : s + length])
                    found.setdefault(row, {}).setdefault(int(a["item"][j]), gram)
        return found
