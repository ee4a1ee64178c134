"""Translations: gettext catalogues read with Babel.

English is the source language: every text a person reads is written in English in the
code, marked with :func:`N_`, and translated in ``app/locale/<locale>/LC_MESSAGES/
cartera.po`` (``make messages`` extracts new texts into them). A translator adds a language
by adding a catalogue, without touching Python. The catalogues are read once, straight
from the ``.po`` files (no compiled ``.mo`` to keep in step).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal, get_args

from babel.messages.pofile import read_po

# BCP 47 tags as the API speaks them (Accept-Language, Content-Language, labels).
Language = Literal["en", "es", "pt-BR"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
SOURCE_LANGUAGE: Language = "en"

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "cartera"
# gettext's folder names.
_LOCALE_OF: dict[Language, str] = {"es": "es", "pt-BR": "pt_BR"}


def N_(message: str) -> str:  # noqa: N802  (gettext's name: extraction looks for it)
    """Marks a text for translation where it is defined; it is translated where shown."""
    return message


@cache
def _translations(language: Language) -> dict[str, str]:
    path = LOCALE_DIR / _LOCALE_OF[language] / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalogue = read_po(po)
    return {
        str(message.id): str(message.string)
        for message in catalogue
        if message.id and message.string and not message.fuzzy
    }


def translate(message: str, language: Language) -> str:
    """``message`` in ``language``; the English text where the catalogue has none."""
    if language == SOURCE_LANGUAGE:
        return message
    return _translations(language).get(message, message)


def untranslated(messages: set[str], language: Language) -> set[str]:
    """The messages ``language``'s catalogue lacks (tests walk every catalogue with it)."""
    if language == SOURCE_LANGUAGE:
        return set()
    return messages - _translations(language).keys()


def labels(message: str) -> dict[Language, str]:
    """``message`` in every language the API speaks."""
    return {language: translate(message, language) for language in LANGUAGES}
