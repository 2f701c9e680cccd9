"""Quality filters and duplicate removal: duplicate fields, language, token lengths, exact dedup
of normalised variants, near-dedup (MinHash LSH) of paraphrased duplicates."""

from __future__ import annotations

import json
import re
from pathlib import Path

from climb.config import DedupConfig, FilterConfig
from climb.data.dedup import Deduplicator
from climb.data.formats import normalise
from climb.data.prepare import prepare_data
from climb.data.quality import LanguageFilter, duplicate_fields, length_filter
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


def test_exact_dedup_is_normalised() -> None:
    d = Deduplicator(DedupConfig(near=False))
    reason, ticket = d.check("What is 2 + 2?\nFour.")
    assert reason is None
    d.add(ticket)
    assert d.check("  what is 2 + 2 ?  four ")[0] == "exact_duplicate"
    assert d.check("What is 2 + 3?\nFive.")[0] is None


def test_near_dedup_drops_paraphrases_keeps_distinct() -> None:
    d = Deduplicator(DedupConfig(exact=True, near=True))
    for text in ORIGINALS + DISTINCT:
        reason, ticket = d.check(text)
        assert reason is None, text
        d.add(ticket)
    for text in PARAPHRASES:
        assert d.check(text)[0] == "near_duplicate", text


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
