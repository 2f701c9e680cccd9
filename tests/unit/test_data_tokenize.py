"""Batched tokenisation gives the same input_ids and labels as the per-example reference
(`tokenize_messages`, which renders and tokenises every prefix of a conversation): on the demo
data and on multi-turn chats with system prompts, whitespace at the edges of turns, literal
special-token text and non-Latin scripts, with SmolLM2's own template and climb's named ones; a
template with generation markers uses them; a template that edits contents falls back to the
reference."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from climb.data.chat_batch import BatchTokenizer
from climb.data.formats import normalise
from climb.data.sources import BadRow
from climb.data.templates import NAMED
from climb.data.tokenize import IGNORE_INDEX, tokenize_messages, tokenize_text

EDGES = ["", " ", "\n", "  ", "\n\n", "\t"]
EXTRAS = ["", " <|im_end|> inside", " 한국어 문장입니다.", " emoji 🎉", " Ünïcödé"]


@pytest.fixture(scope="module")
def tok(smollm2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2.path)


@pytest.fixture(scope="module")
def chats(repo: Path) -> list[list[dict[str, str]]]:
    """The demo data as chats, then 120 multi-turn chats built from its turns."""
    rows = [
        json.loads(x) for x in (repo / "data/demo/instructions.jsonl").read_text().split("\n") if x
    ]
    demo = [normalise(r, "alpaca", {}) for r in rows]
    rng = random.Random(7)

    def text(i: int) -> str:
        return (
            rng.choice(EDGES)
            + demo[rng.randrange(len(demo))][i]["content"]
            + rng.choice(EXTRAS)
            + rng.choice(EDGES)
        )

    multi = []
    for _ in range(120):
        chat = [{"role": "system", "content": text(0)}] if rng.random() < 0.3 else []
        for _ in range(rng.randint(1, 4)):
            chat += [
                {"role": "user", "content": text(0)},
                {"role": "assistant", "content": text(-1)},
            ]
        multi.append(chat)
    return demo + multi


def reference(tok, chats, template, max_length=4096, completion_only=True) -> list:
    out = []
    for chat in chats:
        r = tokenize_messages(tok, chat, max_length, completion_only, template)
        out.append(r if isinstance(r, BadRow) else (r["input_ids"], r["labels"]))
    return out


@pytest.mark.parametrize("template", ["tokenizer", "chatml", "zephyr", "alpaca"])
def test_batched_equals_reference(tok, chats, template: str) -> None:
    tpl = None if template == "tokenizer" else NAMED[template]
    batch = BatchTokenizer(tok, tpl, 4096, True)
    assert batch(chats) == reference(tok, chats, tpl)
    assert batch.fallbacks == 0  # every chat fit its role sequence's skeleton
    multi = [c for c in chats if sum(m["role"] == "assistant" for m in c) > 1]
    assert len(multi) > 50  # the multi-turn chats were part of it


def test_too_long_and_full_labels_match_reference(tok, chats) -> None:
    assert BatchTokenizer(tok, None, 64, True)(chats) == reference(tok, chats, None, 64)
    full = BatchTokenizer(tok, None, 4096, False)(chats[:40])
    assert full == reference(tok, chats[:40], None, 4096, False)
    assert all(ids == labels for ids, labels in full)


def test_generation_markers_give_the_assistant_tokens(tok, chats) -> None:
    marked = (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}"
        "{{ message['content'] + '<|im_end|>\n' }}{% endgeneration %}"
        "{% else %}{{ message['content'] + '<|im_end|>\n' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    batch = BatchTokenizer(tok, marked, 4096, True)
    assert batch.markers
    plain = [c for c in chats if not any(m["content"][:1].isspace() for m in c)]
    # the markers wrap exactly what the prefix rule trains on: same labels (a turn that starts
    # with whitespace can share a token with the header's newline, which the marker mask, unlike
    # the prefix rule, then trains on)
    assert batch(plain) == reference(tok, plain, NAMED["chatml"])


def test_template_that_edits_contents_falls_back(tok, chats) -> None:
    trimming = NAMED["chatml"].replace("message['content']", "message['content'] | trim")
    batch = BatchTokenizer(tok, trimming, 4096, True)
    assert batch(chats[-40:]) == reference(tok, chats[-40:], trimming)
    assert batch.fallbacks > 0


def test_plain_text_matches_reference(tok) -> None:
    texts = ["Plain text for pre-training.", " leading space", "x" * 3000, "한국어"]
    out = BatchTokenizer(tok, None, 512, True)(texts)
    for text, got in zip(texts, out, strict=True):
        ref = tokenize_text(tok, text, 512)
        assert got == (ref if isinstance(ref, BadRow) else (ref["input_ids"], ref["labels"]))
    assert isinstance(out[2], BadRow) and out[2].reason == "too_long"
    assert out[0][1][-1] == tok.eos_token_id and IGNORE_INDEX not in out[0][1]
