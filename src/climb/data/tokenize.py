"""Rendering messages with the tokenizer's chat template and tokenising them, with labels that
train on the assistant's replies only (completion-only loss) or on every token.
"""

from __future__ import annotations

from typing import Any

from climb.data.formats import Messages
from climb.data.sources import BadRow

IGNORE_INDEX = -100


def _render(
    tokenizer: Any, messages: Messages, add_generation_prompt: bool, template: str | None = None
) -> str:
    return str(
        tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            chat_template=template,
        )
    )


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_messages(
    tokenizer: Any,
    messages: Messages,
    max_length: int,
    completion_only: bool,
    template: str | None = None,
) -> dict[str, list[int]] | BadRow:
    """Render `messages` with the chat template; return input_ids and labels (or a BadRow).

    `template` is a Jinja chat template (see `climb.data.templates`); None uses the tokenizer's.

    With `completion_only`, tokens outside assistant turns get label -100. Each assistant turn's
    span is found by rendering the conversation up to that turn with and without it; a template
    whose renderings are not prefixes of one another is reported, not silently mis-masked.
    """
    if template is None and tokenizer.chat_template is None:
        raise ValueError(
            "the tokenizer has no chat template; set data.chat_template to a "
            "named template (chatml, zephyr, alpaca), use data format `text`, or "
            "use a chat model as model.base"
        )
    full = _render(tokenizer, messages, add_generation_prompt=False, template=template)
    input_ids = _ids(tokenizer, full)
    if not completion_only:
        labels = list(input_ids)
    else:
        labels = [IGNORE_INDEX] * len(input_ids)
        for i, msg in enumerate(messages):
            if msg["role"] != "assistant":
                continue
            before = _render(tokenizer, messages[:i], add_generation_prompt=True, template=template)
            upto = _render(
                tokenizer, messages[: i + 1], add_generation_prompt=False, template=template
            )
            if not full.startswith(upto) or not upto.startswith(before):
                return BadRow("template_not_prefix", "chat template renders turns inconsistently")
            start, end = len(_ids(tokenizer, before)), len(_ids(tokenizer, upto))
            labels[start:end] = input_ids[start:end]
    if len(input_ids) > max_length:
        return BadRow("too_long", f"{len(input_ids)} tokens > data.max_length={max_length}")
    if all(t == IGNORE_INDEX for t in labels):
        return BadRow("no_trainable_tokens", "nothing to learn from after masking")
    return {"input_ids": input_ids, "labels": labels}


def tokenize_text(tokenizer: Any, text: str, max_length: int) -> dict[str, list[int]] | BadRow:
    """Tokenise plain text (BOS/EOS as the tokenizer adds them); every token is trained."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids.append(tokenizer.eos_token_id)
    if len(ids) > max_length:
        return BadRow("too_long", f"{len(ids)} tokens > data.max_length={max_length}")
    return {"input_ids": ids, "labels": list(ids)}
