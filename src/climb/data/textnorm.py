"""Text normalisation shared by dedup and decontamination: one place decides what counts as
"the same text" and what a word is.

`normalise_text` applies Unicode NFKC (full-width and compatibility forms fold to their plain
forms, so a full-width "Ａ" or a ligature matches its plain spelling), lower-cases, and turns
every run of characters that are not word characters (punctuation, symbols, whitespace) into one
space, as lm-eval's decontamination janitor does. `words` splits a normalised text into the units
that n-grams are made of: whitespace-separated words.

Both are script-agnostic: Unicode word characters (Hangul, Han, Cyrillic, ...) survive
normalisation unchanged in meaning. A language whose words are not separated by spaces, or
whose words carry attached particles (Korean eojeol, Japanese), needs a different `words`;
`UNITS` maps a unit name to its splitter so such a segmenter is one entry, chosen by
configuration, with no change to the n-gram, index or dedup code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)


def normalise_text(text: str) -> str:
    """Return `text` NFKC-normalised, lower-cased, with every run of non-word characters
    (punctuation, symbols, whitespace) replaced by one space and no leading/trailing space."""
    if text.isascii():  # the same result, twice as fast: a table instead of a regex
        return " ".join(text.lower().translate(_ASCII_NON_WORD).split())
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def words(norm: str) -> list[str]:
    """Return the words of a normalised text (split on the single spaces it holds)."""
    return norm.split(" ") if norm else []


UNITS: dict[str, Callable[[str], list[str]]] = {"words": words}
