"""Text normalisation shared by dedup and decontamination: one place decides what counts as
"the same text" and what the units of an n-gram are.

`normalise_text` applies Unicode NFKC (full-width and compatibility forms fold to their plain
forms, so a full-width "Ａ" or a ligature matches its plain spelling; Hangul written as
conjoining jamo, as NFD text has it, composes into the same syllables as precomposed text),
lower-cases, and turns every run of characters that are not word characters (punctuation,
symbols, whitespace, the Korean interpunct "ㆍ") into one space, as lm-eval's decontamination
janitor does. Exact dedup compares these texts.

`match_text` turns a text into the units that n-grams (decontamination) and shingles (near-dedup)
are made of, space-separated, by the splitter `UNITS` names (`DEFAULT_UNITS` unless a caller
asks for another):

- `words`: the whitespace-separated words of the normalised text;
- `hangul` (the default): the same words, except that Hangul is compared syllable by syllable,
  without spaces and without the syllables of the common particles (조사, `PARTICLES`: 은 는 이 가
  을 를 의 에 서 와 과 도 만 로 으 께). Korean attaches particles to words (학교에서 / 학교를,
  사과는 / 사과가) and its spacing varies between writers (할 수 있다 / 할수 있다, 환경 오염 /
  환경오염), so two writings of one sentence rarely share a whitespace word sequence; with
  each syllable a unit, spacing no longer matters, and with the particle syllables removed
  wherever they occur (also inside words, the same on both sides), a changed, added or dropped
  particle no longer breaks an n-gram. Text without Hangul is left exactly as `words` has it.

A Hangul segment is measured in syllables, not words: `is_hangul` tells the n-gram and
short-question rules to scale their lengths (`climb.data.matchrules`). Near-dedup shingles the
units with no space between Hangul syllables (`compact`), so a character 5-gram spans five
syllables, as it spans five letters of other text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)
_INTERPUNCT = str.maketrans({"\u318d": " "})  # ㆍ, which NFKC would turn into a letter
PARTICLES = "은는이가을를의에서와과도만로으께"
_SYLLABLE = "\uac00-\ud7a3"
_HAS_HANGUL = re.compile(f"[{_SYLLABLE}]")
_PARTICLE = re.compile(f"[{PARTICLES}]")
_ONE_SYLLABLE = re.compile(f" ?([{_SYLLABLE}]) ?")
_SPACE_BETWEEN = re.compile(f"(?<=[{_SYLLABLE}]) (?=[{_SYLLABLE}])")


def normalise_text(text: str) -> str:
    """Return `text` NFKC-normalised, lower-cased, with every run of non-word characters
    (punctuation, symbols, whitespace) replaced by one space and no leading/trailing space."""
    if text.isascii():  # the same result, twice as fast: a table instead of a regex
        return " ".join(text.lower().translate(_ASCII_NON_WORD).split())
    text = unicodedata.normalize("NFKC", text.translate(_INTERPUNCT))
    return _NON_WORD.sub(" ", text.lower()).strip()


def words(norm: str) -> list[str]:
    """Return the units of a normalised (or unit) text: split on the single spaces it holds."""
    return norm.split(" ") if norm else []


def plain_units(norm: str) -> str:
    """The `words` units: the normalised text itself."""
    return norm


def hangul_units(norm: str) -> str:
    """The `hangul` units of a normalised text: every Hangul syllable a unit, the particle
    syllables removed; other words unchanged (see the module docstring)."""
    if norm.isascii() or not _HAS_HANGUL.search(norm):
        return norm
    kept = _PARTICLE.sub("", norm)
    return " ".join(_ONE_SYLLABLE.sub(r" \1 ", kept).split())


UNITS: dict[str, Callable[[str], str]] = {"words": plain_units, "hangul": hangul_units}
DEFAULT_UNITS = "hangul"


def match_text(text: str, units: str = DEFAULT_UNITS) -> str:
    """Return the space-separated units of `text` (normalised, then split by `UNITS[units]`)."""
    return UNITS[units](normalise_text(text))


def is_hangul(units: list[str]) -> bool:
    """Return True when most of `units` are Hangul syllables (the text is measured in
    syllables, not words)."""
    syllables = sum(1 for u in units if len(u) == 1 and "\uac00" <= u <= "\ud7a3")
    return syllables * 2 >= len(units) > 0


def compact(unit_text: str) -> str:
    """Return a unit text with no space between two Hangul syllables (what near-dedup
    shingles; text without Hangul is returned as is)."""
    return unit_text if unit_text.isascii() else _SPACE_BETWEEN.sub("", unit_text)


def display(units: list[str]) -> str:
    """Return units joined for people to read: spaces between Hangul syllables left out."""
    return compact(" ".join(units))
