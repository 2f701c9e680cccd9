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


class Deduplicator:
    """The ordered dedup pass: `start_chunk` with a chunk's signatures, then for each example in
    order `check` it and, once it is kept by every later step, `add` it; `end_chunk` files the
    chunk's kept examples into the global index."""

    def __init__(self, spec: SignatureSpec) -> None:
        """Empty indices for `spec`."""
        self.spec = spec
        self.exact = SortedKeys()
        self.bands = SortedKeys()
        self._seen_before: tuple[Any, Any] = (None, None)
        self._chunk: tuple[Any, Any] = (None, None)
        self._local_exact: set[int] = set()
        self._local_bands: set[int] = set()
        self._kept: list[int] = []

    def start_chunk(self, exact: Any, bands: Any) -> None:
        """Look a chunk's signatures up against everything kept before it. `exact`: uint64 per
        example (or None when exact dedup is off); `bands`: (examples, bands) uint64 or None."""
        import numpy as np

        self._chunk = (exact, bands)
        self._seen_before = (
            self.exact.contains(exact) if exact is not None else None,
            self.bands.contains(bands).any(axis=1) if bands is not None else None,
        )
        if bands is not None and not bands.shape[1]:
            self._seen_before = (self._seen_before[0], np.zeros(len(bands), dtype=bool))
        self._local_exact, self._local_bands, self._kept = set(), set(), []

    def check(self, i: int) -> str | None:
        """Return `exact_duplicate`, `near_duplicate` or None for example `i` of the chunk."""
        exact, bands = self._chunk
        seen_exact, seen_bands = self._seen_before
        if exact is not None and (seen_exact[i] or int(exact[i]) in self._local_exact):
            return "exact_duplicate"
        if bands is not None and (
            seen_bands[i] or not self._local_bands.isdisjoint(bands[i].tolist())
        ):
            return "near_duplicate"
        return None

    def add(self, i: int) -> None:
        """Index example `i` of the chunk as kept, so later copies of it are found."""
        exact, bands = self._chunk
        if exact is not None:
            self._local_exact.add(int(exact[i]))
        if bands is not None:
            self._local_bands.update(bands[i].tolist())
        self._kept.append(i)

    def end_chunk(self) -> None:
        """File the chunk's kept examples into the global indices."""
        exact, bands = self._chunk
        if self._kept:
            if exact is not None:
                self.exact.add(exact[self._kept])
            if bands is not None:
                self.bands.add(bands[self._kept].ravel())
        self._chunk, self._kept = (None, None), []

    def stats(self) -> dict[str, Any]:
        """Return the index sizes and LSH shape (for the report)."""
        return {
            "exact_index": self.exact.size,
            "lsh_bands": self.spec.bands if self.spec.near else 0,
            "lsh_rows": self.spec.rows if self.spec.near else 0,
        }
