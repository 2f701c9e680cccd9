"""Quality filters on normalised examples: fields that repeat one another, language, and token
length. Each filter returns None to keep an example or a `BadRow` saying why it is dropped.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any

from climb.config import FilterConfig
from climb.data.formats import Messages
from climb.data.sources import BadRow


def example_text(item: Messages | str) -> str:
    """Return the plain text of an example: its text, or its messages' contents in order."""
    if isinstance(item, str):
        return item
    return "\n".join(m["content"] for m in item)


def duplicate_fields(
    row: dict[str, Any], fmt: str, columns: dict[str, str], item: Messages | str
) -> BadRow | None:
    """Return BadRow("duplicate_field") when an example's fields repeat one another, else None.

    Alpaca: the input or the output repeats the instruction. Conversations: a turn repeats the
    turn just before it (e.g. the reply echoes the prompt); turns further apart may repeat (a user
    saying "continue" twice is normal). Texts are compared with whitespace collapsed but case and
    punctuation kept, so a reply that fixes the case or punctuation of its input is kept.
    """
    if fmt == "alpaca":
        fields = {
            name: row.get(columns.get(name, name)) for name in ("instruction", "input", "output")
        }
        texts = {k: " ".join(v.split()) for k, v in fields.items() if isinstance(v, str)}
        pairs = [
            (("instruction", texts.get("instruction")), (k, texts.get(k)))
            for k in ("input", "output")
        ]
    elif isinstance(item, list):
        turns = [(m["role"], " ".join(m["content"].split())) for m in item]
        pairs = list(itertools.pairwise(turns))
    else:
        return None
    for (name_a, a), (name_b, b) in pairs:
        if a and a == b:
            return BadRow("duplicate_field", f"{name_b} repeats {name_a}: {a[:60]!r}")
    return None


class LanguageFilter:
    """Keep examples in the configured languages (py3langid, loaded on first use)."""

    def __init__(self, languages: list[str], min_confidence: float) -> None:
        """`languages`: ISO 639-1 codes to keep; examples detected as another language with at
        least `min_confidence` probability are dropped (uncertain ones are kept)."""
        self.languages = {code.lower() for code in languages}
        self.min_confidence = min_confidence

    @cached_property
    def _identifier(self) -> Any:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def __call__(self, item: Messages | str) -> BadRow | None:
        """Return a BadRow("language") for an example in another language, else None."""
        text = example_text(item)[:2000]
        lang, prob = self._identifier.classify(text)
        if lang not in self.languages and prob >= self.min_confidence:
            return BadRow("language", f"detected {lang} ({prob:.2f})")
        return None


def length_filter(n_tokens: int, cfg: FilterConfig, max_length: int) -> BadRow | None:
    """Drop examples whose token count is outside [min_tokens, max_tokens or max_length]."""
    if n_tokens < cfg.min_tokens:
        return BadRow("too_short", f"{n_tokens} tokens < data.filters.min_tokens")
    limit = cfg.max_tokens or max_length
    if n_tokens > limit:
        return BadRow("too_long", f"{n_tokens} tokens > {limit}")
    return None
