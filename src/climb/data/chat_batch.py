"""Tokenising a batch of examples at once: the chat template rendered per batch, one batched
fast-tokenizer call, completion-only labels from one rendering per example.

The labels are those of `climb.data.tokenize.tokenize_messages` (the reference, one example at a
time): an assistant turn's tokens run from the token count of the conversation rendered up to
that turn with the generation prompt (`before`) to the count of the conversation rendered up to
and including it (`upto`). Here they come without rendering or tokenising those prefixes:

- Templates with generation markers (`{% generation %}`): transformers' own
  `apply_chat_template(..., return_assistant_tokens_mask=True)` gives the assistant tokens.
- Other templates: each role sequence (user, assistant, ...) is rendered once with placeholder
  contents (the skeleton, cached); a conversation whose rendering is the skeleton with its
  contents in place of the placeholders has its `before` and `upto` lengths read off the skeleton.
  The token count of a prefix is taken from the full tokenisation up to the last added token
  (e.g. `<|im_start|>`) in the prefix, where tokenisation restarts, plus the count of the short
  text after it (`assistant\\n`, cached), which is exactly what tokenising the prefix alone gives.
  Each skeleton is checked against the reference once; an example that does not fit its skeleton
  (a template that edits contents) goes through the reference, as does everything when the
  tokenizer has no fast backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from climb.data.formats import Messages
from climb.data.sources import BadRow
from climb.data.tokenize import IGNORE_INDEX, tokenize_messages, tokenize_text

Tokenised = tuple[list[int], list[int]]
_MARKERS = re.compile(r"\{%-?\s*generation\s*-?%\}")
_PH = "\ue000{}\ue001"  # placeholder contents (private-use characters)
_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Skeleton:
    """A role sequence rendered with placeholders: the text around the contents, and for each
    assistant turn where `before` and `upto` end (skeleton offset, placeholders before it)."""

    pieces: tuple[str, ...]
    bounds: tuple[tuple[int, int, int, int], ...]
    specials: tuple[str, ...]


def _ph(k: int) -> str:
    return _PH.format(k)


class BatchTokenizer:
    """Callable: a list of examples (messages or plain text) -> per example, (input_ids, labels)
    or the BadRow saying why it is dropped; identical to the per-example reference."""

    def __init__(
        self, tokenizer: Any, template: str | None, max_length: int, completion_only: bool
    ) -> None:
        """`tokenizer`: a transformers tokenizer; `template`: a Jinja chat template (None = the
        tokenizer's); `max_length`: longest example; `completion_only`: labels on assistant
        turns only."""
        self.tok, self.template = tokenizer, template
        self.max_length, self.completion_only = max_length, completion_only
        self.backend: Any = getattr(tokenizer, "backend_tokenizer", None)
        chat = template or getattr(tokenizer, "chat_template", None) or ""
        self.markers = bool(_MARKERS.search(chat if isinstance(chat, str) else ""))
        self.skeletons: dict[tuple[str, ...], Skeleton | None] = {}
        self.counts: dict[str, int] = {}
        self.added: dict[str, int] = {}
        if self.backend is not None:
            for tid, tok in self.backend.get_added_tokens_decoder().items():
                if not (tok.lstrip or tok.rstrip or tok.single_word):
                    self.added[tok.content] = tid
        self.fallbacks = 0
        self._chat_template: str | None = None
        self._variables: dict[str, Any] = {}

    def __call__(self, items: list[Messages | str]) -> list[Tokenised | BadRow]:
        """Tokenise `items` (each a list of messages or a plain text) as one batch."""
        out: list[Tokenised | BadRow | None] = [None] * len(items)
        chats = [i for i, item in enumerate(items) if not isinstance(item, str)]
        texts = [i for i, item in enumerate(items) if isinstance(item, str)]
        if texts:
            for i, res in zip(texts, self._texts([items[i] for i in texts]), strict=True):  # type: ignore[misc]
                out[i] = res
        if chats:
            for i, res in zip(chats, self._chats([items[i] for i in chats]), strict=True):  # type: ignore[misc]
                out[i] = res
        return out  # type: ignore[return-value]

    def _check(self, ids: list[int], labels: list[int]) -> Tokenised | BadRow:
        if len(ids) > self.max_length:
            return BadRow("too_long", f"{len(ids)} tokens > data.max_length={self.max_length}")
        if labels.count(IGNORE_INDEX) == len(labels):
            return BadRow("no_trainable_tokens", "nothing to learn from after masking")
        return ids, labels

    def _texts(self, texts: list[str]) -> list[Tokenised | BadRow]:
        if self.backend is None:
            return [_as_pair(tokenize_text(self.tok, t, self.max_length)) for t in texts]
        eos = self.tok.eos_token_id
        out: list[Tokenised | BadRow] = []
        for enc in self.backend.encode_batch(texts, add_special_tokens=True):
            ids = enc.ids
            if eos is not None and (not ids or ids[-1] != eos):
                ids.append(eos)
            if len(ids) > self.max_length:
                out.append(
                    BadRow("too_long", f"{len(ids)} tokens > data.max_length={self.max_length}")
                )
            else:
                out.append((ids, list(ids)))
        return out

    def _reference(self, chat: Messages) -> Tokenised | BadRow:
        self.fallbacks += 1
        return _as_pair(
            tokenize_messages(self.tok, chat, self.max_length, self.completion_only, self.template)
        )

    def _chats(self, chats: list[Messages]) -> list[Tokenised | BadRow]:
        if self.template is None and self.tok.chat_template is None:
            raise ValueError(
                "the tokenizer has no chat template; set data.chat_template to a "
                "named template (chatml, zephyr, alpaca), use data format `text`, or "
                "use a chat model as model.base"
            )
        if self.backend is None:
            return [self._reference(c) for c in chats]
        if self.markers and self.completion_only:
            enc = self.tok.apply_chat_template(
                chats,
                chat_template=self.template,
                tokenize=True,
                return_dict=True,
                return_assistant_tokens_mask=True,
            )
            pairs = zip(enc["input_ids"], enc["assistant_masks"], strict=True)
            return [
                self._check(list(ids), [t if m else IGNORE_INDEX for t, m in zip(ids, mask)])  # noqa: B905
                for ids, mask in pairs
            ]
        rendered = self._render(chats, False)
        encs = self.backend.encode_batch(rendered, add_special_tokens=False)
        out: list[Tokenised | BadRow] = []
        for chat, text, enc in zip(chats, rendered, encs, strict=True):
            ids = enc.ids  # a new list on every access
            if not self.completion_only:
                out.append(self._check(ids, list(ids)))
                continue
            labels = self._labels(chat, text, enc, ids)
            out.append(self._reference(chat) if labels is None else self._check(ids, labels))
        return out

    def _render(self, chats: list[Messages], generation_prompt: bool) -> list[str]:
        """Render a batch as `apply_chat_template(tokenize=False)` does (same template, same
        special-token variables), less its conversion of message objects to dicts: the
        messages here are plain dicts of strings already."""
        from transformers.utils.chat_template_utils import render_jinja_template

        if self._chat_template is None:
            self._chat_template = self.tok.get_chat_template(self.template)
            self._variables = dict(self.tok.special_tokens_map)
        out: Any = render_jinja_template(
            conversations=chats,
            chat_template=self._chat_template,
            add_generation_prompt=generation_prompt,
            **self._variables,
        )
        return [str(t) for t in out[0]]  # (rendered, generation indices)

    def _labels(self, chat: Messages, text: str, enc: Any, ids: list[int]) -> list[int] | None:
        """Return the completion-only labels of a rendered, tokenised conversation, or None
        when it does not fit its skeleton (the caller then uses the reference)."""
        sk = self._skeleton(tuple(m["role"] for m in chat))
        if sk is None:
            return None
        contents = [m["content"] for m in chat]
        parts = [sk.pieces[0]]
        for k, c in enumerate(contents):
            parts += [c, sk.pieces[k + 1]]
        if "".join(parts) != text:
            return None
        delta = [0]
        for k, c in enumerate(contents):
            delta.append(delta[-1] + len(c) - len(_ph(k)))
        labels = [IGNORE_INDEX] * len(ids)
        for b_pos, b_k, u_pos, u_k in sk.bounds:
            start = self._count(text, b_pos + delta[b_k], enc, ids, sk.specials)
            end = self._count(text, u_pos + delta[u_k], enc, ids, sk.specials)
            if start is None or end is None:
                return None
            labels[start:end] = ids[start:end]
        return labels

    def _count(
        self, text: str, c: int, enc: Any, ids: list[int], specials: tuple[str, ...]
    ) -> int | None:
        """Return len(tokenize(text[:c])) using the full encoding up to the last added token
        before `c` (None when the encoding does not split there as expected)."""
        p, special = 0, ""
        for s in specials:
            j = text.rfind(s, 0, c)
            if j >= 0 and j + len(s) > p:
                p, special = j + len(s), s
        head = 0
        if p:
            t = enc.char_to_token(p - 1)
            if t is None or ids[t] != self.added[special]:
                return None
            if tuple(enc.token_to_chars(t)) != (p - len(special), p):
                return None
            head = t + 1
        return head + self._tail(text[p:c])

    def _tail(self, tail: str) -> int:
        n = self.counts.get(tail)
        if n is None:
            n = len(self.backend.encode(tail, add_special_tokens=False).ids)
            if len(tail) <= 256:
                if len(self.counts) >= _MAX_CACHED:
                    self.counts.clear()
                self.counts[tail] = n
        return n

    def _skeleton(self, roles: tuple[str, ...]) -> Skeleton | None:
        if roles in self.skeletons:
            return self.skeletons[roles]
        if len(self.skeletons) >= _MAX_CACHED:
            self.skeletons.clear()
        sk = self.skeletons[roles] = self._build_skeleton(roles)
        return sk

    def _build_skeleton(self, roles: tuple[str, ...]) -> Skeleton | None:
        """Render `roles` with placeholders; None when the template does not render them
        verbatim and in order, or renders turns inconsistently, or the token counts read off
        the skeleton differ from tokenising its prefixes."""
        msgs = [{"role": r, "content": _ph(k)} for k, r in enumerate(roles)]
        full = self._render([msgs], False)[0]
        pieces, ends, pos = [], [], 0
        for k in range(len(msgs)):
            j = full.find(_ph(k), pos)
            if j < 0 or full.count(_ph(k)) != 1:
                return None
            pieces.append(full[pos:j])
            pos = j + len(_ph(k))
            ends.append(pos)
        pieces.append(full[pos:])
        specials = tuple(s for s in self.added if s in full)
        bounds = []
        enc = self.backend.encode(full, add_special_tokens=False)
        ids = list(enc.ids)
        for i, role in enumerate(roles):
            if role != "assistant":
                continue
            before = self._render([msgs[:i]], True)[0]
            upto = self._render([msgs[: i + 1]], False)[0]
            if not full.startswith(upto) or not upto.startswith(before):
                return None
            b_k, u_k = sum(e <= len(before) for e in ends), sum(e <= len(upto) for e in ends)
            for prefix, k in ((before, b_k), (upto, u_k)):
                if k < len(ends) and ends[k] - len(_ph(k)) < len(prefix):
                    return None  # the prefix ends inside a placeholder
                exact = len(self.backend.encode(prefix, add_special_tokens=False).ids)
                if self._count(full, len(prefix), enc, ids, specials) != exact:
                    return None
            bounds.append((len(before), b_k, len(upto), u_k))
        return Skeleton(tuple(pieces), tuple(bounds), specials)


def _as_pair(res: dict[str, list[int]] | BadRow) -> Tokenised | BadRow:
    return res if isinstance(res, BadRow) else (res["input_ids"], res["labels"])
