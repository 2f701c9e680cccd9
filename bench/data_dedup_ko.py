"""Near-dedup of Korean text with Hangul units (syllables, particles and spacing left out, the
syllables run together: what the data stage shingles) next to the normalised text alone (the
rule before), in the same run, with the data stage's signatures (MinHash LSH over character
5-grams, threshold 0.7) and its ordered dedup pass:

- recall: each of the 60 rows of data/demo-ko followed by a copy with its particles changed, one
  with its spacing changed, and one decomposed into jamo (tests/integration/data_leaks_ko.py);
- precision: distinct real Korean texts (KoBEST train contexts and paragraphs, each once, from
  ../shared/benchmarks-ko) flagged as near-duplicates of an earlier one; the flagged pairs are
  printed for inspection.

Usage: python bench/data_dedup_ko.py [BENCHMARKS_KO]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]


def near_flags(texts: list[str], units: str) -> list[int | None]:
    """Return, per text, the index of an earlier kept text it is a near-duplicate of (None when
    kept), with `units` ("hangul" or "words") as the shingled text, in chunks of 512."""
    from climb.config import DedupConfig
    from climb.data.dedup import Deduplicator
    from climb.data.minhash import SignatureSpec, band_hashes
    from climb.data.textnorm import UNITS, compact, normalise_text

    spec = SignatureSpec.from_config(DedupConfig(exact=False), seed=1)
    dedup, out, kept_bands = Deduplicator(spec), [], []
    for start in range(0, len(texts), 512):
        part = [UNITS[units](normalise_text(t)) for t in texts[start : start + 512]]
        part = [compact(t) for t in part] if units == "hangul" else part
        bands = band_hashes(part, spec)
        dedup.start_chunk(len(part), None, bands)
        for k in range(len(part)):
            if dedup.check(k) is None:
                dedup.add(k)
                kept_bands.append((start + k, bands[k]))
                out.append(None)
            else:
                first = next(i for i, b in kept_bands if (b == bands[k]).any())
                out.append(first)
        dedup.end_chunk()
    return out


def main() -> None:
    """Print recall on the demo variants and near-duplicates flagged among distinct texts."""
    from climb.data.formats import normalise
    from climb.data.quality import example_text
    from tests.integration.data_leaks_ko import jamo, particles, spacing

    bench = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "benchmarks-ko"
    rows = [
        (json.loads(x), "alpaca")
        for x in (REPO / "data/demo-ko/instructions.jsonl").read_text().splitlines()
    ] + [
        (json.loads(x), "messages")
        for x in (REPO / "data/demo-ko/chats.jsonl").read_text().splitlines()
    ]
    base = [example_text(normalise(r, fmt, {})) for r, fmt in rows]  # type: ignore[arg-type]
    texts = [v for t in base for v in (t, particles(t), spacing(t), jamo(t))]
    distinct: list[str] = []
    for name, key in (("boolq", "paragraph"), ("hellaswag", "context"), ("copa", "premise")):
        with (bench / "kobest" / f"{name}_train.jsonl").open(encoding="utf-8") as fh:
            distinct += [json.loads(line)[key] for line in fh]
    distinct = list(dict.fromkeys(distinct))
    for units in ("hangul", "words"):
        start = time.perf_counter()
        flags = near_flags(texts, units)
        found = {kind: 0 for kind in ("particles", "spacing", "jamo")}
        for k, flag in enumerate(flags):
            if k % 4 and flag is not None:
                found[("particles", "spacing", "jamo")[k % 4 - 1]] += 1
        originals = sum(flags[k] is not None for k in range(0, len(flags), 4))
        false = near_flags(distinct, units)
        seconds = time.perf_counter() - start
        print(f"== {units} ({seconds:.1f}s)")
        print(
            f"demo-ko variants flagged as near-duplicates of their row (of {len(base)} each): "
            + ", ".join(f"{k} {v}" for k, v in found.items())
            + f"; original rows flagged: {originals}"
        )
        pairs = [(k, f) for k, f in enumerate(false) if f is not None]
        print(f"distinct KoBEST train texts flagged: {len(pairs)} of {len(distinct)}")
        for k, f in pairs[:6]:
            print(f"  {distinct[k][:70]!r}\n   ~ {distinct[f][:70]!r}")


if __name__ == "__main__":
    main()
