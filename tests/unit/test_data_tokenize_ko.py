"""Chat templates and completion-only masks on Korean conversations (data/demo-ko: 48 alpaca rows
and 12 chats in the messages format, 11 multi-turn, one with a system prompt, one single-turn):
the batched tokenisation gives the same input_ids and labels as the per-example reference, and
the trainable tokens are exactly the assistant turns: decoded, each run of labelled tokens is one
Korean answer followed by the template's end-of-turn text (EOS included), in order, with
SmolLM2's own template and climb's named ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.data.chat_batch import BatchTokenizer
from climb.data.formats import Messages, normalise
from climb.data.templates import NAMED
from climb.data.tokenize import IGNORE_INDEX
from tests.unit.test_data_tokenize import reference

# what follows an assistant turn's content in each template (SmolLM2's EOS is <|im_end|>)
END = {
    "tokenizer": "<|im_end|>\n",
    "chatml": "<|im_end|>\n",
    "zephyr": "<|im_end|>\n",
    "alpaca": "<|im_end|>\n\n",
}


@pytest.fixture(scope="module")
def tok(smollm2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2.path)


@pytest.fixture(scope="module")
def chats(repo: Path) -> list[Messages]:
    """The Korean demo rows as conversations: alpaca rows, then the messages-format chats."""
    folder = repo / "data" / "demo-ko"
    out = []
    for name, fmt in (("instructions.jsonl", "alpaca"), ("chats.jsonl", "messages")):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            item = normalise(json.loads(line), fmt, {})
            assert isinstance(item, list), item
            out.append(item)
    return out


def labelled_runs(labels: list[int]) -> list[tuple[int, int]]:
    """Return the [start, end) runs of positions whose label is not IGNORE_INDEX."""
    runs, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_the_korean_chats_cover_the_cases(chats: list[Messages]) -> None:
    turns = [sum(m["role"] == "assistant" for m in c) for c in chats]
    assert len(chats) == 60 and turns.count(1) == 49 and min(turns[48:-1]) >= 2
    assert any(c[0]["role"] == "system" for c in chats[48:])
    assert any("\n\n" in c[0]["content"] for c in chats[:48])  # alpaca rows with an input


@pytest.mark.parametrize("template", ["tokenizer", "chatml", "zephyr", "alpaca"])
def test_korean_batched_equals_reference_and_trains_on_answers_only(
    tok, chats: list[Messages], template: str
) -> None:
    tpl = None if template == "tokenizer" else NAMED[template]
    batch = BatchTokenizer(tok, tpl, 4096, True)
    out = batch(chats)
    assert out == reference(tok, chats, tpl)
    assert batch.fallbacks == 0  # every Korean chat fit its skeleton: the batched path ran
    for chat, result in zip(chats, out, strict=True):
        assert isinstance(result, tuple), result
        ids, labels = result
        answers = [m["content"] for m in chat if m["role"] == "assistant"]
        runs = labelled_runs(labels)
        assert len(runs) == len(answers)
        for (start, end), answer in zip(runs, answers, strict=True):
            assert labels[start:end] == ids[start:end]
            text = tok.decode(ids[start:end], clean_up_tokenization_spaces=False)
            assert text[: len(answer)] == answer
            # then the end of the turn; a last newline may be part of the next turn's first
            # token (alpaca's "\n\n### Instruction"), as the reference counts it
            assert text[len(answer) :] in (END[template], END[template][:-1])
            assert text[len(answer) :].startswith(tok.eos_token)
        prompts = [m["content"] for m in chat if m["role"] != "assistant"]
        masked = tok.decode(
            [t for t, label in zip(ids, labels, strict=True) if label == IGNORE_INDEX],
            clean_up_tokenization_spaces=False,
        )
        assert all(p in masked for p in prompts)  # the prompts are there, and not trained on


def test_hangul_costs_several_tokens_per_syllable(tok, chats: list[Messages]) -> None:
    """SmolLM2's byte-level BPE spends ~3 tokens per Hangul syllable: what max_length and
    the length filters count are these tokens, not characters."""
    answer = chats[0][-1]["content"]
    syllables = sum("\uac00" <= c <= "\ud7a3" for c in answer)
    tokens = len(tok(answer, add_special_tokens=False)["input_ids"])
    assert tokens > 2 * syllables
