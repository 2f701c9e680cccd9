"""Decontamination: n-gram hashing, segment boundaries, and an index of the bundled smoke suite
(built once, then reused) that finds a planted benchmark item and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from climb.config import DecontaminationConfig, EvalConfig
from climb.data.decontam import WordHasher, load_index, segment_grams, window_hashes
from climb.resources import smoke_benchmarks_dir
from climb.state import StateDir
from tests.unit.test_data_sources import shared_state


def test_window_hashes_match_per_window_hashing() -> None:
    text = "the quick brown fox jumps over the lazy dog again and again"
    words = text.split(" ")
    hasher = WordHasher()
    all_lengths = window_hashes(hasher(words), [3, 5, 12])
    for n, hashes in all_lengths.items():
        one_by_one = [
            window_hashes(hasher(words[i : i + n]), [n])[n][0] for i in range(len(words) - n + 1)
        ]
        assert list(hashes) == one_by_one
    assert len(window_hashes(hasher(words[:2]), [3])[3]) == 0


def test_segment_grams_stay_inside_segments() -> None:
    a = ["one", "two", "three", "four", "five"]
    b = ["six", "seven", "eight", "nine", "ten", "eleven"]
    hashes, seg, used = segment_grams([a, b, ["tiny"]], n=5, min_words=1, hasher=WordHasher())
    assert sorted(seg.tolist()) == [0, 1, 1, 2]  # 1 window in a, 2 in b, `tiny` whole
    assert used == {1, 5}
    joined = window_hashes(WordHasher()(a + b), [5])[5]
    crossing = set(joined[1:5].tolist())  # windows spanning a and b
    assert not crossing & set(hashes.tolist())


@pytest.fixture(scope="session")
def smoke_state(tmp_path_factory) -> StateDir:
    """A state folder whose smoke-suite index is built once for every data test."""
    return shared_state(tmp_path_factory)


@pytest.fixture(scope="module")
def smoke_index(smoke_state: StateDir):
    return load_index(DecontaminationConfig(), EvalConfig(), smoke_state), smoke_state


def test_smoke_index_finds_planted_item_only(smoke_index) -> None:
    index, _ = smoke_index
    assert index.meta["source"] == "smoke" and len(index.items) > 100
    row = json.loads(
        (smoke_benchmarks_dir() / "mmlu" / "mmlu_test.jsonl").read_text().splitlines()[3]
    )
    planted = f"Here is a quiz.\n{row['question']}\n" + "\n".join(
        f"{letter}. {c}" for letter, c in zip("ABCD", row["choices"], strict=True)
    )
    hits = index.match(planted)
    assert hits, planted
    assert {index.items[i][0] for i, _ in hits} == {"mmlu"}
    assert index.match("Tell me about the weather in spring, and what to plant in April.") == []


def test_index_is_built_once(smoke_index) -> None:
    index, state = smoke_index
    folders = [f for f in (state.root / "decontamination").iterdir() if f.name == index.folder.name]
    assert len(folders) == 1
    before = (folders[0] / "hashes.npy").stat().st_mtime_ns
    again = load_index(DecontaminationConfig(), EvalConfig(), state)
    assert again.cached and not index.cached
    assert (folders[0] / "hashes.npy").stat().st_mtime_ns == before
    assert np.array_equal(np.asarray(again.hashes), np.asarray(index.hashes))
    other = load_index(DecontaminationConfig(ngram=8), EvalConfig(), state)
    assert not other.cached and other.folder != index.folder


def test_short_items_match_whole(tmp_path: Path) -> None:
    state = StateDir.at(tmp_path)
    idx = load_index(DecontaminationConfig(min_words=6), EvalConfig(), state)
    arc = json.loads(
        (smoke_benchmarks_dir() / "arc_challenge" / "arc_challenge_test.hf.jsonl")
        .read_text()
        .splitlines()[0]
    )
    gold = arc["choices"]["text"][arc["choices"]["label"].index(arc["answerKey"])]
    text = f"Question: {arc['question']}\nAnswer: {gold}"
    assert len(text.split()) < 13
    assert {idx.items[i][0] for i, _ in idx.match(text)} == {"arc_challenge"}
