"""Duplicate removal across all sources: exact (a hash of the normalised text) and near
(MinHash signatures from datasketch, banded as in datasketch's MinHashLSH).

An example is first checked (`check`), and only added to the indices (`add`) once it is kept by
every later step, so a duplicate of an example that was dropped for another reason survives.

Memory: the exact index keeps one 64-bit hash per kept example, the near index one 64-bit hash per
LSH band (datasketch chooses the bands, 9 of 13 rows for 128 permutations at 0.8) in plain sets,
a few hundred bytes per kept example instead of the ~3 KB of MinHashLSH's own tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from climb.config import DedupConfig
from climb.data.quality import normalise_text


@dataclass(frozen=True)
class Ticket:
    """What `add` needs to index an example once it is kept."""

    exact: int | None
    bands: tuple[int, ...]


def _h64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def shingles(text: str, kind: str, size: int) -> set[bytes]:
    """Return the set of word or character `size`-grams of an already normalised text (the
    whole text as one shingle when it is shorter)."""
    units: list[str] | str = text.split() if kind == "word" else text
    sep = " " if kind == "word" else ""
    if len(units) <= size:
        return {sep.join(units).encode()}
    return {sep.join(units[i : i + size]).encode() for i in range(len(units) - size + 1)}


class Deduplicator:
    """Exact and near-duplicate detection over a stream of example texts."""

    def __init__(self, cfg: DedupConfig, seed: int = 1) -> None:
        """Build empty indices for `cfg` (datasketch is imported only when near-dedup is on)."""
        import numpy as np

        self.cfg = cfg
        self.exact_seen: set[int] = set()
        self.band_seen: list[set[int]] = []
        self._perm: Any = None
        if cfg.near:
            from datasketch import MinHash, MinHashLSH

            lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
            self.b, self.r = lsh.b, lsh.r
            proto = MinHash(num_perm=cfg.num_perm, seed=seed)
            self._perm, self._scheme = proto.permutations, proto.scheme
            rng = np.random.default_rng(seed)
            self._coef = rng.integers(1, 2**63, size=self.r, dtype=np.uint64) | np.uint64(1)
            self.band_seen = [set() for _ in range(self.b)]

    def _bands(self, norm: str) -> tuple[int, ...]:
        import numpy as np
        from datasketch import MinHash

        m = MinHash(num_perm=self.cfg.num_perm, permutations=self._perm, scheme=self._scheme)
        m.update_batch(list(shingles(norm, self.cfg.shingle, self.cfg.shingle_size)))
        sig = np.asarray(m.hashvalues[: self.b * self.r], dtype=np.uint64).reshape(self.b, self.r)
        with np.errstate(over="ignore"):
            hashed = (sig * self._coef).sum(axis=1, dtype=np.uint64)
        return tuple(int(h) for h in hashed)

    def check(self, text: str) -> tuple[str | None, Ticket]:
        """Return (reason, ticket): reason is `exact_duplicate`, `near_duplicate` or None."""
        norm = normalise_text(text)
        exact = _h64(norm.encode()) if self.cfg.exact else None
        if exact is not None and exact in self.exact_seen:
            return "exact_duplicate", Ticket(exact, ())
        bands = self._bands(norm) if self.cfg.near else ()
        if any(h in seen for h, seen in zip(bands, self.band_seen, strict=True)):
            return "near_duplicate", Ticket(exact, bands)
        return None, Ticket(exact, bands)

    def add(self, ticket: Ticket) -> None:
        """Index a kept example so later copies of it are found."""
        if ticket.exact is not None:
            self.exact_seen.add(ticket.exact)
        for h, seen in zip(ticket.bands, self.band_seen, strict=False):
            seen.add(h)

    def stats(self) -> dict[str, Any]:
        """Return the index sizes and LSH shape (for the report)."""
        return {
            "exact_index": len(self.exact_seen),
            "lsh_bands": self.b if self.cfg.near else 0,
            "lsh_rows": self.r if self.cfg.near else 0,
        }
