"""Dedup signatures of a batch of normalised texts, computed with a few vector operations per
batch: an exact hash of each text, and MinHash LSH band hashes for near-duplicates.

Near-duplicates use one-permutation MinHash (Li, Owen and Zhang, 2012) with optimal
densification (Shrivastava, 2017): every shingle is hashed once per pass, the hash picks one of
the pass's bins and its other bits are the value; a bin's minimum plays the role of one
permutation's minimum, and an empty bin takes the value of a bin picked by a fixed random
sequence, so two texts agree on a bin with probability close to their Jaccard similarity, as with
`num_perm` independent permutations, for the cost of PASSES hashes per shingle instead of
`num_perm`. Two passes of `num_perm / 2` bins leave few empty bins in short texts, which keeps the
LSH curve that of full MinHash (measured on 3,000 realistic rows: the rows flagged per Jaccard
band are within noise of datasketch's). The bins are cut into LSH bands with the (bands, rows)
that datasketch's `MinHashLSH` chooses for the threshold; a band's hash is what the dedup index
stores.

Shingles are character or word n-grams of the normalised text (a text shorter than one shingle
is one shingle), hashed as rolling polynomials over code points or word hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from climb.config import DedupConfig

_P = 0x100000001B3  # multiplier of the shingle rolling hash
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64 finaliser
_MASK32 = 0xFFFFFFFF
PASSES = 2  # independent one-permutation passes, num_perm / PASSES bins each


@dataclass(frozen=True)
class SignatureSpec:
    """What to compute: exact hashes, and/or near-dup bands (`bands` x `rows` of `num_perm`)."""

    exact: bool
    near: bool
    num_perm: int = 128
    bands: int = 0
    rows: int = 0
    shingle: str = "char"
    shingle_size: int = 5
    seed: int = 1

    @classmethod
    def from_config(cls, cfg: DedupConfig, seed: int) -> SignatureSpec:
        """Return the spec of `cfg`; LSH (bands, rows) come from datasketch's MinHashLSH."""
        bands = rows = 0
        if cfg.near:
            from datasketch import MinHashLSH

            lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
            bands, rows = lsh.b, lsh.r
        return cls(
            cfg.exact, cfg.near, cfg.num_perm, bands, rows, cfg.shingle, cfg.shingle_size, seed
        )


def exact_hash(norm: str) -> int:
    """Return the 64-bit hash of a normalised text (exact dedup)."""
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "little")


def _mix(x: Any) -> Any:
    import numpy as np

    x = (x ^ (x >> np.uint64(30))) * np.uint64(_MIX1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_MIX2)
    return x ^ (x >> np.uint64(31))


def _windows(values: Any, sizes: Any, size: int) -> tuple[Any, Any]:
    """Return (hash, row) of every `size`-long window of `values` that stays inside one row
    (rows are consecutive runs of `sizes` values); a row shorter than `size` is one window."""
    import numpy as np

    n = len(sizes)
    row_of = np.repeat(np.arange(n), sizes)
    total = len(values)
    p = np.uint64(_P)
    h = values.copy()
    for k in range(1, size):
        h = h[: total - k] * p + values[k:]
    valid = np.nonzero(row_of[: len(h)] == row_of[size - 1 : size - 1 + len(h)])[0]
    hashes, rows = [h[valid]], [row_of[valid]]
    short = np.nonzero(sizes < size)[0]
    if len(short):
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        whole = []
        for r in short:
            acc = np.uint64(0)
            for v in values[starts[r] : starts[r] + sizes[r]]:
                acc = acc * p + v
            whole.append(acc)
        hashes.append(np.array(whole, dtype=np.uint64))
        rows.append(short)
    return np.concatenate(hashes), np.concatenate(rows)


def _densify(sig: Any, empty: Any, seed: int, attempts: int = 32) -> Any:
    """Fill each empty bin with the value of a non-empty bin chosen by a fixed random sequence
    of bins per empty bin ("optimal densification"); bins still empty after `attempts` tries
    (texts of a handful of shingles) take the next non-empty bin's value, circularly."""
    import numpy as np

    k = sig.shape[1]
    rng = np.random.default_rng(seed ^ 0x5EED)
    donors = rng.integers(0, k, size=(attempts, k))
    out, todo = sig.copy(), empty.copy()
    for t in range(attempts):
        if not todo.any():
            return out
        take = todo & ~empty[:, donors[t]]
        out[take] = sig[:, donors[t]][take]
        todo &= ~take
    cols = np.arange(2 * k)
    pos = np.where(np.concatenate([~empty, ~empty], axis=1), cols, 4 * k)
    nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1][:, :k]
    donor = np.take_along_axis(np.concatenate([sig, sig], axis=1), nxt, axis=1)
    return np.where(todo, donor, out)


def band_hashes(
    norms: list[str], spec: SignatureSpec, word_hashes: Any = None, word_sizes: Any = None
) -> Any:
    """Return the (len(norms), spec.bands) uint64 LSH band hashes of normalised texts.

    `word_hashes`, `word_sizes`: for word shingles, the texts' `WordHasher.of_texts` (computed
    when not given)."""
    import numpy as np

    n, k = len(norms), spec.num_perm
    if spec.shingle == "word":
        if word_hashes is None:
            from climb.data.ngrams import WordHasher

            word_hashes, word_sizes = WordHasher().of_texts(norms)
        sizes, values = word_sizes, word_hashes
    else:
        sizes = np.array([len(t) for t in norms], dtype=np.int64)
        values = np.frombuffer("".join(norms).encode("utf-32-le"), dtype=np.uint32)
        values = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        shingles, rows = _windows(values, sizes, spec.shingle_size)
        flat = np.full(n * k, _MASK32 + 1, dtype=np.uint64)
        width = k // PASSES
        base = rows.astype(np.uint64) * np.uint64(k)
        for p in range(PASSES):
            salt = np.uint64((spec.seed * PASSES + p) * _MIX2 & 0xFFFFFFFFFFFFFFFF)
            h = _mix(shingles ^ salt)
            bins = ((h >> np.uint64(32)) * np.uint64(width)) >> np.uint64(32)
            at = base + bins + np.uint64(p * width)
            np.minimum.at(flat, at, h & np.uint64(_MASK32))
        sig = flat.reshape(n, k)
        sig = _densify(sig, sig > _MASK32, spec.seed)
        rng = np.random.default_rng(spec.seed)
        coef = rng.integers(1, 2**63, size=spec.rows, dtype=np.uint64) | np.uint64(1)
        band_salt = rng.integers(0, 2**63, size=spec.bands, dtype=np.uint64)
        banded = sig[:, : spec.bands * spec.rows].reshape(n, spec.bands, spec.rows)
        return (banded * coef).sum(axis=2, dtype=np.uint64) ^ band_salt
