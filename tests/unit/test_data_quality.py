"""Quality filters and duplicate removal: duplicate fields, language, token lengths, exact dedup
of normalised variants, near-dedup (MinHash LSH) of paraphrased duplicates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from climb.config import DedupConfig, FilterConfig
from climb.data.dedup import Deduplicator, SortedKeys
from climb.data.formats import normalise
from climb.data.minhash import SignatureSpec, band_hashes, exact_hash
from climb.data.prepare import prepare_data
from climb.data.quality import LanguageFilter, duplicate_fields, length_filter
from climb.data.textnorm import normalise_text
from climb.state import StateDir
from tests.unit.test_data_sources import data_cfg, write_jsonl

ORIGINALS = [
    "Explain why the sky looks blue during the day. Sunlight is scattered by the molecules of "
    "the air, and blue light is scattered much more than red light because of its shorter "
    "wavelength, so blue light reaches our eyes from every direction of the sky.",
    "How do vaccines protect people from disease? A vaccine trains the immune system to "
    "recognise a germ without causing the illness, so that when the real germ arrives the body "
    "already has antibodies and memory cells ready to fight it off quickly.",
    "What causes the tides in the ocean? The gravity of the Moon, and to a lesser extent the "
    "Sun, pulls on the oceans; the water bulges towards and away from the Moon, and as the Earth "
    "turns, coasts pass through these bulges, giving two high tides a day.",
]
PARAPHRASES = [  # a few words swapped, spelling and punctuation changed
    "Explain why the sky looks blue in the daytime. Sunlight is scattered by the molecules of "
    "the air, and blue light is scattered much more than red light because of its shorter "
    "wavelength, so blue light reaches our eyes from every direction of the sky!",
    "How do vaccines protect people against disease? A vaccine trains the immune system to "
    "recognize a germ without causing the illness, so that when the real germ arrives the body "
    "already has antibodies and memory cells ready to fight it off quickly.",
    "What causes the tides in the ocean? The gravity of the Moon, and to a lesser extent the "
    "Sun, pulls on the oceans; the water bulges toward and away from the Moon, and as the Earth "
    "rotates, coasts pass through these bulges, giving two high tides a day.",
]
DISTINCT = [
    "Why do leaves change colour in autumn? As days shorten, trees stop making chlorophyll, the "
    "green pigment breaks down, and yellow and orange pigments that were there all along show.",
    "What is the difference between a virus and a bacterium? Bacteria are single living cells "
    "that can reproduce on their own; viruses are much smaller and can only copy themselves "
    "inside the cells of a host.",
]


def test_duplicate_fields() -> None:
    cols: dict[str, str] = {}
    echo = {"instruction": "Tell me a joke.", "output": "Tell me  a joke."}
    same_input = {"instruction": "Summarise.", "input": "Summarise.", "output": "Done."}
    fixes_case = {"instruction": "Capitalise it.", "input": "the cat", "output": "The cat."}
    for row, bad in ((echo, True), (same_input, True), (fixes_case, False)):
        item = normalise(row, "alpaca", cols)
        assert (duplicate_fields(row, "alpaca", cols, item) is not None) is bad, row
    chat = [
        {"role": "user", "content": "continue"},
        {"role": "assistant", "content": "More."},
        {"role": "user", "content": "continue"},
        {"role": "assistant", "content": "End."},
    ]
    assert duplicate_fields({}, "messages", cols, chat) is None
    chat[1]["content"] = "continue"
    assert duplicate_fields({}, "messages", cols, chat).reason == "duplicate_field"


def test_language_filter_drops_other_languages_only() -> None:
    keep_en = LanguageFilter(["en"], 0.8)
    assert keep_en("The weather today is sunny and warm, perfect for a walk in the park.") is None
    german = keep_en("Das Wetter ist heute sonnig und warm, perfekt für einen Spaziergang im Park.")
    assert german is not None and german.reason == "language" and "de" in german.detail


def test_length_filter() -> None:
    cfg = FilterConfig(min_tokens=10, max_tokens=100)
    assert length_filter(5, cfg, 512).reason == "too_short"
    assert length_filter(50, cfg, 512) is None
    assert length_filter(101, cfg, 512).reason == "too_long"
    assert length_filter(600, FilterConfig(), 512).reason == "too_long"


def dedup_reasons(texts: list[str], cfg: DedupConfig, chunk: int, keep=None) -> list:
    """Run the ordered dedup pass over `texts` in chunks of `chunk`; `keep(i)` False = the
    example is dropped by a later step (checked but not added)."""
    spec = SignatureSpec.from_config(cfg, seed=1)
    d, out = Deduplicator(spec), []
    for start in range(0, len(texts), chunk):
        part = [normalise_text(t) for t in texts[start : start + chunk]]
        exact = np.array([exact_hash(t) for t in part], dtype=np.uint64) if spec.exact else None
        d.start_chunk(len(part), exact, band_hashes(part, spec) if spec.near else None)
        for k in range(len(part)):
            out.append(d.check(k))
            if out[-1] is None and (keep is None or keep(start + k)):
                d.add(k)
        d.end_chunk()
    return out


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_exact_dedup_is_normalised(chunk: int) -> None:
    texts = ["What is 2 + 2?\nFour.", "  what is 2 + 2 ?  four ", "What is 2 + 3?\nFive."]
    cfg = DedupConfig(near=False)
    assert dedup_reasons(texts, cfg, chunk) == [None, "exact_duplicate", None]
    # a copy of an example dropped by a later step (e.g. too long) is kept
    again = [texts[0], texts[0], texts[0]]
    assert dedup_reasons(again, cfg, chunk, keep=lambda i: i > 0) == [None, None, "exact_duplicate"]


@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_near_dedup_drops_paraphrases_keeps_distinct(chunk: int) -> None:
    texts = ORIGINALS + DISTINCT + PARAPHRASES
    reasons = dedup_reasons(texts, DedupConfig(exact=True, near=True), chunk)
    assert reasons == [None] * len(ORIGINALS + DISTINCT) + ["near_duplicate"] * len(PARAPHRASES)


def test_sorted_keys_grow_and_find() -> None:
    keys = SortedKeys()
    rng = np.random.default_rng(0)
    added = [rng.integers(0, 2**63, size=n, dtype=np.uint64) for n in (5, 300, 7, 1, 40, 900)]
    for batch in added:
        keys.add(batch)
    every = np.concatenate(added)
    assert keys.size == len(every) and len(keys.levels) <= 4
    assert keys.contains(every).all()
    assert not keys.contains(rng.integers(0, 2**63, size=1000, dtype=np.uint64)).any()


def test_minhash_bins_agree_like_jaccard() -> None:
    """One-permutation MinHash with densification estimates Jaccard similarity: the share of
    equal LSH bands falls with the similarity of the texts, and equal texts agree everywhere."""
    spec = SignatureSpec.from_config(DedupConfig(), seed=1)
    norms = [normalise_text(t) for t in ORIGINALS + PARAPHRASES + DISTINCT]
    bands = band_hashes(norms, spec)
    assert bands.shape == (len(norms), spec.bands) and spec.bands * spec.rows <= 128
    n, m = len(ORIGINALS), len(DISTINCT)
    same = (bands[:n] == bands[n : 2 * n]).mean()  # paraphrase pairs
    other = (bands[:m] == bands[2 * n : 2 * n + m]).mean()  # unrelated pairs
    assert same > 0.05 and other == 0.0
    assert (band_hashes(norms[:1] * 2, spec)[0] == band_hashes(norms[:1], spec)[0]).all()
    short = band_hashes(["hi", "hi", "ok"], spec)  # shorter than one shingle: the whole text
    assert (short[0] == short[1]).all() and not (short[0] == short[2]).any()


def test_prepare_counts_dedup_and_filters(tmp_path: Path, smollm2) -> None:
    def row(text: str) -> dict:
        q, a = re.split(r"(?<=[.?]) ", text, maxsplit=1)
        return {"instruction": q, "output": a}

    rows = [row(t) for t in ORIGINALS + DISTINCT + PARAPHRASES]
    rows.append(dict(rows[0], instruction=rows[0]["instruction"].upper()))  # exact (normalised)
    rows.append(
        {
            "instruction": "Wie spät ist es jetzt in Berlin?",
            "output": "Es ist gerade drei Uhr nachmittags in Berlin.",
        }
    )
    src = write_jsonl(tmp_path / "q.jsonl", rows)
    cfg = data_cfg(
        [{"path": str(src)}], dedup={"near": True}, filters={"languages": ["en"], "min_tokens": 20}
    )
    data = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "s"))
    assert data.report.skipped == {"exact_duplicate": 1, "language": 1, "near_duplicate": 3}
    assert data.report.examples == len(ORIGINALS + DISTINCT)
    assert data.report.dedup.near_duplicates == 3
    kept = json.loads((Path(data.path) / "manifest.json").read_text())["splits"]["train"]
    assert kept == len(ORIGINALS + DISTINCT)
