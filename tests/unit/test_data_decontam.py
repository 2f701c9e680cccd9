"""Decontamination: n-gram hashing, segment boundaries, the texts taken from a benchmark
document, short questions matched with their answers, and an index of the bundled smoke suite
(built once, then reused) that finds a planted benchmark item and nothing else, the same in a
batch as one text at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from climb.config import DecontaminationConfig, EvalConfig
from climb.data.benchmark_items import item_texts
from climb.data.decontam import WordHasher, load_index, segment_grams, window_hashes
from climb.data.shortqa import PairBuilder, PairIndex
from climb.data.textnorm import normalise_text
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
    assert again.cached
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


def test_item_texts_are_the_documents_content() -> None:
    arc = {
        "id": "Mercury_1",
        "question": "Which gas do plants take in for photosynthesis?",
        "choices": {"text": ["oxygen", "carbon dioxide", "helium"], "label": ["A", "B", "C"]},
        "answerKey": "B",
    }
    prompt = f"Question: {arc['question']}\nAnswer:"
    shown, segments, questions, answers = item_texts(arc, arc["choices"]["text"], 1, prompt)
    assert shown == arc["question"] and questions == (arc["question"],)
    assert answers == ("oxygen", "carbon dioxide", "helium")
    assert f"{arc['question']} carbon dioxide" in segments  # question then gold, back to back
    assert prompt in segments and f"{prompt} carbon dioxide" in segments
    mmlu = {"question": "What is 2 + 2?", "subject": "math", "choices": ["3", "4"], "answer": 1}
    _, segments, _, answers = item_texts(mmlu, ["A", "B"], 1)
    assert answers == ("3", "4") and "What is 2 + 2? 4" in segments  # labels -> the texts


def test_batched_match_equals_one_by_one(smoke_index) -> None:
    index, _ = smoke_index
    rows = [
        json.loads(x)
        for x in (smoke_benchmarks_dir() / "mmlu" / "mmlu_test.jsonl").read_text().split("\n")
        if x
    ]
    texts = [
        f"Here is a quiz.\n{r['question']}\n"
        + "\n".join(f"{k}. {c}" for k, c in zip("ABCD", r["choices"], strict=True))
        for r in rows[:6]
    ]
    texts.insert(3, "Tell me about the weather in spring, and what to plant in April.")
    texts.insert(0, "")
    words_ = [normalise_text(t).split() for t in texts]
    batched = index.match_words(words_)
    assert {i: index.match(t) for i, t in enumerate(texts) if index.match(t)} == batched
    assert 0 not in batched and 4 not in batched and len(batched) == 6


def test_short_questions_match_with_their_answers(tmp_path: Path) -> None:
    hasher = WordHasher()
    pairs = PairBuilder(min_words=8, boilerplate_items=2, hasher=hasher)
    pairs.add(0, ("Are you a human?",), ("I am an artificial intelligence.", "Yes, I am."))
    for item in (1, 2, 3):  # a question three items share is boilerplate
        pairs.add(item, ("Which of the following is true?",), ("All of the above are true.",))
    meta = pairs.save(tmp_path)
    index = PairIndex(tmp_path, meta)
    assert meta["pairs"] == 1  # "Yes, I am." is too short with the question (7 words)

    def match(text: str) -> dict:
        norm = normalise_text(text)
        hashes, _ = hasher.of_texts([norm])
        windows = window_hashes(hashes, index.q_lengths)
        found = index.match([norm], hashes, windows, np.zeros(len(hashes), dtype=np.int64), [0])
        return found.get(0, {})

    hit = match("Answer truthfully: are you a HUMAN? The answer: I am an artificial intelligence")
    assert hit == {0: "are you a human ... i am an artificial intelligence"}
    assert match("Are you a human? Of course I am, I am a person.") == {}
    assert match("I am an artificial intelligence. Are you a human?") == {}  # answer first
    far = "Are you a human? " + "word " * 11 + "I am an artificial intelligence."
    assert match(far) == {}
    assert match("Which of the following is true? All of the above are true.") == {}
