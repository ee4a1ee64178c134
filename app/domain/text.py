"""How two spellings of one name compare."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """No accents, lower case, single blanks: "José  Pérez" and "JOSE PEREZ" give
    "jose perez". The SQL side spells it ``lower(cartera_unaccent(...))``."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())
