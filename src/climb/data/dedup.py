"""Duplicate removal across all sources, as one ordered pass over compact signatures: exact (a
hash of the normalised text) and near (MinHash LSH band hashes, see `climb.data.minhash`).

The signatures are computed in the worker processes; this pass runs in the main process, in the
order of the input, so its result does not depend on the number of processes: an example is a
duplicate of an earlier *kept* example (a copy of an example dropped for another reason
survives). Each chunk of examples is first looked up against everything kept before it in a few
vector operations, then resolved in order against the examples kept earlier in the same chunk.

Memory: 8 bytes per kept example for the exact index and 8 per LSH band (datasketch chooses the
bands, e.g. 9 of 13 rows for 128 permutations at 0.7), in sorted numpy arrays merged as they
grow: ~80 bytes per kept example, ~320 MB for four million.
"""

from __future__ import annotations

from typing import Any

from climb.data.minhash import SignatureSpec


class SortedKeys:
    """A growing set of uint64 keys as a few sorted arrays (merged like an LSM tree)."""

    def __init__(self) -> None:
        """Start empty."""
        self.levels: list[Any] = []
        self.size = 0

    def add(self, keys: Any) -> None:
        """Add a batch of keys (any order)."""
        import numpy as np

        if not len(keys):
            return
        self.levels.append(np.sort(np.asarray(keys, dtype=np.uint64)))
        self.size += len(keys)
        while len(self.levels) > 1 and len(self.levels[-2]) <= 2 * len(self.levels[-1]):
            top = self.levels.pop()
            self.levels[-1] = np.sort(np.concatenate([self.levels[-1], top]), kind="stable")

    def contains(self, keys: Any) -> Any:
        """Return a bool array: which of `keys` (any shape) are in the set."""
        import numpy as np

        keys = np.asarray(keys, dtype=np.uint64)
        found = np.zeros(keys.shape, dtype=bool)
        for level in self.levels:
            pos = np.minimum(np.searchsorted(level, keys), len(level) - 1)
            found |= level[pos] == keys
        return found


def earlier_sharers(keys: Any, rows: Any) -> dict[int, list[int]]:
    """Return {row: [earlier rows with one of its keys]} for the rows that share a key with an
    earlier row (`keys` and their `rows`, flat, rows ascending within equal keys)."""
    import numpy as np

    out: dict[int, list[int]] = {}
    if len(keys) < 2:
        return out
    order = np.argsort(keys, kind="stable")
    k, r = keys[order], rows[order]
    same = np.nonzero(k[1:] == k[:-1])[0]
    if not len(same):
        return out
    starts = same[np.concatenate([[True], same[1:] != same[:-1] + 1])]
    for start in starts.tolist():
        end = start + 1
        while end < len(k) and k[end] == k[start]:
            end += 1
        group = sorted(set(r[start:end].tolist()))
        for pos, row in enumerate(group[1:], 1):
            out.setdefault(row, []).extend(group[:pos])
    return out


class Deduplicator:
    """The ordered dedup pass: `start_chunk` with a chunk's signatures, then for each example in
    order `check` it and, once it is kept by every later step, `add` it; `end_chunk` files the
    chunk's kept examples into the global index. Per example this is a few array lookups: the
    chunk is matched against earlier chunks and within itself with vector operations, and only
    examples that share a key with an earlier one of the same chunk are looked at one by one."""

    def __init__(self, spec: SignatureSpec) -> None:
        """Empty indices for `spec`."""
        self.spec = spec
        self.exact = SortedKeys()
        self.bands = SortedKeys()
        self._chunk: tuple[Any, Any] = (None, None)
        self._seen: tuple[Any, Any] = (None, None)
        self._sharers: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        self._kept: Any = None

    def start_chunk(self, n: int, exact: Any, bands: Any) -> None:
        """Look a chunk's `n` examples up against everything kept before it and within itself.
        `exact`: uint64 per example (None when exact dedup is off); `bands`: (examples, bands)
        uint64 (None when near dedup is off)."""
        import numpy as np

        no = np.zeros(n, dtype=bool)
        self._chunk = (exact, bands)
        self._kept = np.zeros(n, dtype=bool)
        seen_exact, seen_near, share_exact, share_near = no, no, {}, {}
        if exact is not None:
            seen_exact = self.exact.contains(exact)
            share_exact = earlier_sharers(exact, np.arange(n))
        if bands is not None and bands.shape[1]:
            seen_near = self.bands.contains(bands).any(axis=1)
            rows = np.repeat(np.arange(n), bands.shape[1])
            share_near = earlier_sharers(bands.ravel(), rows)
        self._seen, self._sharers = (seen_exact, seen_near), (share_exact, share_near)

    def check(self, i: int) -> str | None:
        """Return `exact_duplicate`, `near_duplicate` or None for example `i` of the chunk."""
        kept = self._kept
        for reason, seen, sharers in zip(
            ("exact_duplicate", "near_duplicate"), self._seen, self._sharers, strict=True
        ):
            if seen[i] or (i in sharers and kept[sharers[i]].any()):
                return reason
        return None

    def add(self, i: int) -> None:
        """Index example `i` of the chunk as kept, so later copies of it are found."""
        self._kept[i] = True

    def end_chunk(self) -> None:
        """File the chunk's kept examples into the global indices."""
        import numpy as np

        exact, bands = self._chunk
        kept: Any = np.nonzero(self._kept)[0] if self._kept is not None else []
        if len(kept):
            if exact is not None:
                self.exact.add(exact[kept])
            if bands is not None:
                self.bands.add(bands[kept].ravel())
        self._chunk, self._kept = (None, None), None

    def stats(self) -> dict[str, Any]:
        """Return the index sizes and LSH shape (for the report)."""
        return {
            "exact_index": self.exact.size,
            "lsh_bands": self.spec.bands if self.spec.near else 0,
            "lsh_rows": self.spec.rows if self.spec.near else 0,
        }
