"""Translations: gettext catalogues read with Babel, and the language of each answer.

English is the source language: every text a person reads is written in English in the
code, marked with :func:`N_`, and translated in ``app/locale/<locale>/LC_MESSAGES/
cartera.po`` (``make messages`` extracts new texts into them). A translator adds a language
by adding a catalogue, without touching Python (and its tag to :data:`Language`). The
catalogues are read once, straight from the ``.po`` files (no compiled ``.mo`` to keep in
step).

A text with values (a count, a date, a country) is a :class:`Message`: its English template
(a ``str.format`` template, marked N_) and the values, rendered in the reader's language at
the edge (the router or the error handler), never before: the domain does not know who
reads. The reader's language is :func:`negotiate`'d from ``Accept-Language``; every answer
says it in ``Content-Language`` (app/middleware.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from babel.messages.pofile import read_po

# BCP 47 tags as the API speaks them (Accept-Language, Content-Language, labels).
Language = Literal["en", "es", "pt-BR"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
SOURCE_LANGUAGE: Language = "en"

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "cartera"


def N_(message: str) -> str:  # noqa: N802  (gettext's name: extraction looks for it)
    """Marks a text for translation where it is defined; it is translated where shown."""
    return message


@cache
def _translations(language: Language) -> dict[str, str]:
    # gettext's folder names: pt_BR for pt-BR.
    path = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"
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


def translated(message: str, language: Language) -> bool:
    """Whether ``language`` has its own text for ``message`` (English has every text)."""
    return language == SOURCE_LANGUAGE or message in _translations(language)


def untranslated(messages: set[str], language: Language) -> set[str]:
    """The messages ``language``'s catalogue lacks (tests walk every catalogue with it)."""
    if language == SOURCE_LANGUAGE:
        return set()
    return messages - _translations(language).keys()


def labels(message: str) -> dict[Language, str]:
    """``message`` in every language the API speaks."""
    return {language: translate(message, language) for language in LANGUAGES}


class _Lenient(dict[str, Any]):
    """Format values where a missing one shows as ``?`` instead of failing the answer."""

    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Message:
    """A text a person reads, not yet in their language: its English ``str.format``
    template (marked N_ where it is written) and the values that fill it. A value that is a
    Message itself (a reason inside a sentence) is rendered in the same language; any other
    value as ``str()``. ``str(message)`` is the English text (logs, tests)."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, language: Language) -> str:
        return render(self.template, language, self.params)

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)

    def to_json(self) -> dict[str, Any]:
        """The message as JSON to store, so that it is shown later in each reader's language
        (values that are no JSON scalars are kept as their text)."""
        return {
            "template": self.template,
            "params": {
                key: value.to_json()
                if isinstance(value, Message)
                else value
                if value is None or isinstance(value, str | int | float | bool)
                else str(value)
                for key, value in self.params.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            str(data["template"]),
            {
                key: cls.from_json(value) if isinstance(value, Mapping) else value
                for key, value in dict(data.get("params") or {}).items()
            },
        )


def render(template: str, language: Language, params: Mapping[str, Any] | None = None) -> str:
    """``template`` in ``language``, filled with ``params`` (Messages among them rendered in
    ``language`` too). A translation that breaks the format falls back to the English."""
    values = _Lenient(
        {
            key: value.render(language) if isinstance(value, Message) else value
            for key, value in (params or {}).items()
        }
    )
    for text in (translate(template, language), template):
        try:
            return text.format_map(values)
        except (ValueError, IndexError, AttributeError, KeyError):
            continue
    return template


def stored_text(
    stored: Mapping[str, Any] | None, english: str | None, language: Language
) -> str | None:
    """A text kept as :meth:`Message.to_json` (``stored``) in ``language``; one kept only
    as its English text (written before texts were kept so) translated where the catalogue
    has it."""
    if stored:
        return Message.from_json(stored).render(language)
    return None if english is None else translate(english, language)


def text_of(message: str | Message, language: Language) -> str:
    """A plain text (translated when the catalogue has it) or a Message, in ``language``."""
    if isinstance(message, Message):
        return message.render(language)
    return translate(message, language)


# Accept-Language (RFC 9110 section 12.5.4). Babel's ``negotiate_locale`` matches whole tags or
# a tag's language against whole available tags, so "pt-PT" would not find "pt-BR" and the
# q-values are not its business; the rule here is simpler: a range's primary language picks
# the one tag we speak in that language (any "es-*" is es, "pt" and "pt-*" are pt-BR).
_BY_PRIMARY: dict[str, Language] = {tag.split("-")[0].lower(): tag for tag in LANGUAGES}


def negotiate(accept_language: str | None) -> Language:
    """The language of the answer: the client's most preferred one we speak (highest q,
    then first listed; q=0 refuses), English when none matches or nothing is said."""
    if not accept_language:
        return SOURCE_LANGUAGE
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if not quality <= 1.0:  # NaN refuses; above 1 is read as 1
            quality = 1.0 if quality > 1.0 else 0.0
        language = _BY_PRIMARY.get(tag.strip().split("-")[0].lower())
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else SOURCE_LANGUAGE
