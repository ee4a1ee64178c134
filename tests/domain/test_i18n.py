"""Languages: Accept-Language negotiation, texts with values, and catalogues that hold no
English where they should not."""

from __future__ import annotations

import ast
import re
from string import Formatter

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from app.i18n import LANGUAGES, LOCALE_DIR, Message, negotiate, render, translate
from tests.helpers.i18n import english_words


class TestNegotiate:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("es", "es"),
            ("es-MX", "es"),
            ("ES-co", "es"),
            ("en", "en"),
            ("en-US,es;q=0.9", "en"),
            ("fr, es;q=0.5", "es"),
            ("fr, en;q=0.4, es;q=0.5", "es"),
            ("es;q=0.2, en;q=0.8", "en"),
            ("de, fr;q=0.9", "en"),
            ("*", "en"),
            ("es;q=0", "en"),
            ("es;q=0, en;q=0.1", "en"),
            ("es ; q=0.7 , en;q=0.6", "es"),
            ("es-419,es;q=0.9,en;q=0.8", "es"),
            ("pt-BR", "pt-BR"),
            ("pt", "pt-BR"),
            ("pt-PT", "pt-BR"),
            ("pt-br,en;q=0.5", "pt-BR"),
            ("en;q=0.5, pt-BR;q=0.9, es;q=0.8", "pt-BR"),
            ("es-MX;q=0.9, pt-BR", "pt-BR"),
            ("es;q=nan, pt;q=0.1", "pt-BR"),
        ],
    )
    def test_picks_the_most_preferred_language_we_speak(self, header, expected):
        assert negotiate(header) == expected

    @pytest.mark.parametrize("header", [None, "", "   "])
    def test_missing_or_blank_header_means_english(self, header):
        assert negotiate(header) == "en"

    def test_equal_quality_goes_to_the_first_listed(self):
        assert negotiate("es;q=0.8, en;q=0.8") == "es"
        assert negotiate("en;q=0.8, es;q=0.8") == "en"
        assert negotiate("pt;q=0.8, es;q=0.8") == "pt-BR"

    @pytest.mark.parametrize("header", ["es;q=abc", "es;q=", ";;;", ",,,", "q=0.5", "es;q=1;q=2"])
    def test_malformed_headers_do_not_raise(self, header):
        assert negotiate(header) in LANGUAGES

    @given(header=st.text())
    def test_any_text_gives_a_language_we_speak_without_raising(self, header):
        assert negotiate(header) in LANGUAGES

    @given(
        entries=st.lists(
            st.tuples(
                st.sampled_from(["es", "es-MX", "en", "en-GB", "fr", "de", "pt-BR", "pt", "*"]),
                st.none() | st.sampled_from([0, 0.1, 0.3, 0.5, 0.8, 0.9, 1]),
            ),
            max_size=6,
        )
    )
    def test_well_formed_header_follows_quality_then_position(self, entries):
        header = ", ".join(tag if q is None else f"{tag};q={q}" for tag, q in entries)
        # RFC 9110: the highest q wins (absent means 1), q=0 means "not acceptable", and
        # among equals the first listed. English when nothing we speak is asked for.
        spoken = {"en": "en", "es": "es", "pt": "pt-BR"}
        candidates = [
            (1.0 if q is None else q, -position, spoken[tag.split("-")[0]])
            for position, (tag, q) in enumerate(entries)
            if tag.split("-")[0] in spoken and (q is None or q > 0)
        ]
        expected = max(candidates)[2] if candidates else "en"
        assert negotiate(header) == expected


class TestMessage:
    def test_english_is_the_template_filled(self):
        message = Message("The request has {count} invalid field(s).", {"count": 2})
        assert str(message) == "The request has 2 invalid field(s)."

    def test_each_language_fills_its_own_template(self):
        message = Message("The request has {count} invalid field(s).", {"count": 2})
        assert message.render("es") == "La solicitud tiene 2 campo(s) inválido(s)."
        assert message.render("pt-BR") == "A requisição tem 2 campo(s) inválido(s)."

    def test_a_message_inside_a_message_is_rendered_in_the_same_language(self):
        inner = Message("database unreachable or not migrated")
        outer = Message("The service is not ready: {reason}.", {"reason": inner})
        assert outer.render("es") == (
            "El servicio no está listo: la base de datos no responde o no está migrada."
        )

    def test_a_missing_value_shows_as_a_question_mark(self):
        assert render("The request has {count} invalid field(s).", "en") == (
            "The request has ? invalid field(s)."
        )

    def test_a_text_the_catalogue_lacks_stays_english(self):
        assert translate("No such text in any catalogue", "es") == "No such text in any catalogue"


def _catalogue(language: str):
    folder = language.replace("-", "_")
    with (LOCALE_DIR / folder / "LC_MESSAGES" / "cartera.po").open("rb") as po:
        return [m for m in read_po(po) if m.id]


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


# Texts that read the same in every language (names of things, formats).
SAME_EVERYWHERE = frozenset(
    {"SMS", "WhatsApp", "Email", "Busy", "Invalid client", "JSON", "Folio: {folio}"}
)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
class TestCatalogues:
    """Every text marked for translation, in each catalogue: the same values, and no
    English sentence left (a translator who copies the English is caught here)."""

    def test_every_translation_keeps_the_values_of_its_english(self, language):
        for message in _catalogue(language):
            assert _names(message.string) == _names(message.id), message.id

    def test_no_translation_is_english(self, language):
        for message in _catalogue(language):
            found = english_words(message.string)
            assert not found, (message.id, message.string, found)

    def test_a_translation_differs_from_its_english_unless_the_words_are_shared(self, language):
        same = [
            m.id
            for m in _catalogue(language)
            if m.string == m.id and len(m.id.split()) > 1 and m.id not in SAME_EVERYWHERE
        ]
        assert not same, same


# Where a text a person reads is handed over, and which argument holds it.
_TEXT_ARGUMENT = {
    "Conflict": 0,
    "InvalidInput": 1,
    "InvalidValue": 0,
    "InvalidId": 0,
    "UnreadableUpload": 0,
    "RowError": 1,
    "fail": 1,
    "Message": 0,
}
APP = LOCALE_DIR.parent


def _unmarked_texts() -> list[str]:
    """Texts handed to an error or a message without N_: English for every reader."""
    found = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            index = _TEXT_ARGUMENT.get(str(name))
            if index is None or len(node.args) <= index:
                continue
            argument = node.args[index]
            literal = isinstance(argument, ast.JoinedStr | ast.BinOp | ast.Dict) or (
                isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            )
            if literal and not (name == "Message" and _is_placeholders(argument)):
                where = f"{path.relative_to(APP.parent)}:{node.lineno}"
                found.append(f"{where} {name}: {ast.unparse(argument)[:80]}")
    return found


def _is_placeholders(argument: ast.expr) -> bool:
    """A template of nothing but values ("{item0}, {item1}") has no words to translate."""
    return isinstance(argument, ast.Constant) and not re.sub(
        r"\{[^{}]*\}|[\s,;:.()/–-]", "", str(argument.value)
    )


def test_every_text_handed_to_an_error_is_marked_for_translation():
    """A literal, an f-string or a ``{"reason": ...}`` reaches a Spanish reader in English:
    write ``N_("... {value} ...")`` with the values as params instead (app/i18n.py)."""
    assert _unmarked_texts() == []


def test_the_catalogues_hold_exactly_the_texts_the_code_marks(tmp_path):
    """`make messages` keeps a catalogue entry only if the code marks it (N_ or `_` in a
    template): an entry added by hand would be dropped at the next extraction, and a marked
    text left out of the catalogues would stay English. Extraction here is Babel's own, with
    the Makefile's options."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (APP.parent / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    marked = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(APP), method_map, options_map, keywords={"N_": None, "_": None}
        )
    }
    for language in (lang for lang in LANGUAGES if lang != "en"):
        kept = {m.id for m in _catalogue(language)}
        assert kept - marked == set(), (language, "entries the code no longer marks")
        assert marked - kept == set(), (language, "marked texts missing from the catalogue")
