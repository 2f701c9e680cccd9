"""Word n-gram hashing shared by decontamination and dedup: stable 64-bit word hashes, rolling
hashes of every L-word window (all lengths in one pass), and a bitmap that rules out most
non-members of a large sorted hash array with one vector gather.
"""

from __future__ import annotations

from typing import Any

_P = 0x9E3779B97F4A7C15  # odd multiplier of the rolling hash
_K = 0xC2B2AE3D27D4EB4F  # mixes the n-gram length into its hash
_WP = 0x100000001B3  # odd multiplier of a word's polynomial hash (64-bit FNV prime)
_WP_INV = pow(_WP, -1, 1 << 64)
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64 finaliser
BITMAP_MIN_BITS = 20  # a bitmap has >= 32 bits per member, at least 2**20


class WordHasher:
    """Stable 64-bit hashes of words: a polynomial over the word's code points (mod 2**64,
    mixed with its length), computed for every word of a batch of texts with a few vector
    operations over their characters (prefix sums of c_j * P**-j), no Python loop per word."""

    def __init__(self) -> None:
        """Start with no cached powers of the multiplier."""
        self._pow: Any = None  # P**j
        self._inv: Any = None  # P**-j (mod 2**64)

    def _powers(self, n: int) -> tuple[Any, Any]:
        import numpy as np

        if self._pow is None or len(self._pow) < n:
            size = max(n, 1 << 16)
            pw = np.full(size, _WP, dtype=np.uint64)
            inv = np.full(size, _WP_INV, dtype=np.uint64)
            pw[0] = inv[0] = 1
            self._pow, self._inv = np.cumprod(pw), np.cumprod(inv)
        return self._pow, self._inv

    def of_texts(self, norms: list[str]) -> tuple[Any, Any]:
        """Return (uint64 hash of every word of the normalised texts, end to end; int64 number
        of words of each text). Words are what `climb.data.textnorm.words` splits."""
        import numpy as np

        joined = "\n".join(norms)
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if not len(codes):
            return np.empty(0, dtype=np.uint64), np.zeros(len(norms), dtype=np.int64)
        pw, inv = self._powers(len(codes))
        sep = (codes == 32) | (codes == 10)
        with np.errstate(over="ignore"):
            prefix = np.cumsum(codes * inv[: len(codes)], dtype=np.uint64)
            starts = np.nonzero(~sep & np.concatenate([[True], sep[:-1]]))[0]
            ends = np.nonzero(~sep & np.concatenate([sep[1:], [True]]))[0]
            before = np.where(starts > 0, prefix[np.maximum(starts - 1, 0)], np.uint64(0))
            h = (prefix[ends] - before) * pw[ends]  # sum of c_j * P**(end - j)
            h = _mix(h ^ ((ends - starts + 1).astype(np.uint64) * np.uint64(_K)))
        rows = np.searchsorted(np.nonzero(codes == 10)[0], starts)
        return h, np.bincount(rows, minlength=len(norms)).astype(np.int64)

    def __call__(self, words: list[str]) -> Any:
        """Return the uint64 array of the hashes of `words` (already normalised)."""
        return self.of_texts([" ".join(words)])[0]


def _mix(x: Any) -> Any:
    import numpy as np

    x = (x ^ (x >> np.uint64(30))) * np.uint64(_MIX1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_MIX2)
    return x ^ (x >> np.uint64(31))


def window_hashes(wh: Any, lengths: list[int]) -> dict[int, Any]:
    """Return {L: uint64 hashes of every L-word window} of the word hashes `wh`, for each L in
    `lengths` (an empty array when there are fewer than L words). Polynomial rolling hash modulo
    2**64, extended one word at a time, so all lengths cost max(lengths) vector operations.
    """
    import numpy as np

    out: dict[int, Any] = {}
    p = np.uint64(_P)
    h = wh.copy()
    for k in range(1, max(lengths) + 1):
        if k > 1:
            h = h[: len(wh) - k + 1] * p + wh[k - 1 :]
        if k in lengths:
            out[k] = h ^ np.uint64((k * _K) & 0xFFFFFFFFFFFFFFFF)
    return {k: out.get(k, np.empty(0, dtype=np.uint64)) for k in lengths}


def segment_grams(
    segments: list[list[str]], n: int, min_words: int, hasher: WordHasher
) -> tuple[Any, Any, set[int]]:
    """Return (hashes, segment index of each hash, lengths used) for a batch of word lists:
    every n-word window inside a segment, and the whole of each segment shorter than n but at
    least `min_words` long."""
    import numpy as np

    sizes = np.array([len(s) for s in segments], dtype=np.int64)
    words = [w for s in segments for w in s]
    if not words:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64), set()
    seg_of = np.repeat(np.arange(len(segments)), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    short = sorted({int(x) for x in sizes if min_words <= x < n})
    windows = window_hashes(hasher(words), sorted({n, *short}))
    full = windows[n]
    valid = np.nonzero(seg_of[: len(full)] == seg_of[n - 1 : n - 1 + len(full)])[0]
    hashes, segs = [full[valid]], [seg_of[valid]]
    for length in short:
        which = np.nonzero(sizes == length)[0]
        hashes.append(windows[length][starts[which]])
        segs.append(which)
    used = ({n} if len(valid) else set()) | set(short)
    return np.concatenate(hashes), np.concatenate(segs), used


def bitmap_bits(count: int) -> int:
    """Return log2 of the bitmap size for `count` indexed n-grams (>= 32 bits each)."""
    return max(BITMAP_MIN_BITS, int(count * 32).bit_length())


def build_bitmap(hashes: Any, bits: int) -> Any:
    """Return the uint64 words of a bitmap with bit `h >> (64 - bits)` set for each hash."""
    import numpy as np

    idx = hashes >> np.uint64(64 - bits)
    words_ = np.zeros(1 << max(bits - 6, 0), dtype=np.uint64)
    np.bitwise_or.at(words_, idx >> np.uint64(6), np.uint64(1) << (idx & np.uint64(63)))
    return words_


def bitmap_has(bitmap: Any, bits: int, hashes: Any) -> Any:
    """Return a bool array: which `hashes` may be members (False: certainly not)."""
    import numpy as np

    idx = hashes >> np.uint64(64 - bits)
    return ((bitmap[idx >> np.uint64(6)] >> (idx & np.uint64(63))) & np.uint64(1)).astype(bool)


def sequence_hash(hasher: WordHasher, words: list[str]) -> int:
    """Return the window hash of a whole word sequence (as `window_hashes` gives it)."""
    return int(window_hashes(hasher(words), [len(words)])[len(words)][0])
