"""Helpers shared by the tests of i18n and the tests that build on them."""

from __future__ import annotations

import re

# Words of English sentences that are no words of Spanish or Portuguese.
ENGLISH_WORDS = frozenset(
    {
        "the",
        "must",
        "is",
        "not",
        "are",
        "was",
        "were",
        "be",
        "been",
        "with",
        "this",
        "that",
        "these",
        "your",
        "you",
        "only",
        "has",
        "have",
        "cannot",
        "can't",
        "may",
        "which",
        "when",
        "its",
        "it",
        "or",
        "from",
        "than",
        "after",
        "before",
        "there",
        "their",
        "they",
        "will",
        "would",
        "should",
        "could",
        "of",
        "to",
        "and",
        "in",
        "on",
        "at",
        "by",
        "an",
        "any",
        "every",
        "whose",
        "what",
        "who",
        "please",
        "try",
        "again",
        "invalid",
        "required",
        "already",
        "other",
        "another",
        "same",
    }
)


def english_words(text: str) -> set[str]:
    """The English words in ``text``: codes (If-Match, ISO 8601, 'call', starts_on) are no
    sentence, and placeholders are left out."""
    text = re.sub(r"\{[^{}]*\}", " ", text)  # placeholders
    text = re.sub(r"'[^']*'", " ", text)  # quoted codes and values
    text = re.sub(r"\b\w+_\w+\b", " ", text)  # field names and codes (starts_on, RPC_PTP)
    return set(re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())) & ENGLISH_WORDS
