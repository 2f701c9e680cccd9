"""How long a benchmark text must be, and how long its n-grams are, to count as leaked: one
rule for texts measured in words, one for mostly-Hangul texts measured in syllables
(`climb.data.textnorm.is_hangul`), scaled by `decontamination.hangul_syllables_per_word`.

A training text is always looked up with every length either rule uses, so whether a benchmark
segment is Hangul decides only which lengths its own n-grams have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHORT_QUESTION = 3  # words: the shortest question matched with an answer after it
GAP = 10  # words allowed between a short question and its answer ("The correct answer is")


@dataclass(frozen=True)
class Rule:
    """Lengths in units: `ngram` (n-gram size), `min_len` (a shorter segment of at least this
    many units is matched whole), `question` (shortest short question), `gap` (units allowed
    between a short question and its answer)."""

    ngram: int
    min_len: int
    question: int = SHORT_QUESTION
    gap: int = GAP


@dataclass(frozen=True)
class Rules:
    """The rule for word texts and the rule for Hangul texts."""

    words: Rule
    hangul: Rule

    @classmethod
    def of(cls, ngram: int, min_words: int, syllables_per_word: float = 1.5) -> Rules:
        """Return the rules for `ngram`-word n-grams, whole texts of `min_words` words, and
        `syllables_per_word` Hangul syllables per word."""

        def scaled(n: int) -> int:
            return math.ceil(n * syllables_per_word)

        return cls(
            Rule(ngram, min_words),
            Rule(scaled(ngram), scaled(min_words), scaled(SHORT_QUESTION), scaled(GAP)),
        )

    def pick(self, hangul: bool) -> Rule:
        """Return the Hangul rule when `hangul`, else the word rule."""
        return self.hangul if hangul else self.words
