"""Problem details: language negotiation, rendering and field errors (``app.problems``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import errors
from app.problems import (
    CATALOGUE,
    FIELD_MESSAGES_ES,
    FieldError,
    preferred_language,
    render,
    status_of,
    validation_field_errors,
)


def all_domain_errors() -> list[type[errors.DomainError]]:
    found, pending = [], [errors.DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls is not errors.DomainError]


class TestPreferredLanguage:
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
        ],
    )
    def test_picks_the_most_preferred_of_english_and_spanish(self, header, expected):
        assert preferred_language(header) == expected

    @pytest.mark.parametrize("header", [None, "", "   "])
    def test_missing_or_blank_header_means_english(self, header):
        assert preferred_language(header) == "en"

    def test_equal_quality_goes_to_the_first_listed(self):
        assert preferred_language("es;q=0.8, en;q=0.8") == "es"
        assert preferred_language("en;q=0.8, es;q=0.8") == "en"

    @pytest.mark.parametrize("header", ["es;q=abc", "es;q=", ";;;", ",,,", "q=0.5", "es;q=1;q=2"])
    def test_malformed_headers_do_not_raise(self, header):
        assert preferred_language(header) in ("en", "es")

    @given(header=st.text())
    def test_any_text_gives_english_or_spanish_without_raising(self, header):
        assert preferred_language(header) in ("en", "es")

    @given(
        entries=st.lists(
            st.tuples(
                st.sampled_from(["es", "es-MX", "en", "en-GB", "fr", "de", "pt-BR", "*"]),
                st.none() | st.sampled_from([0, 0.1, 0.3, 0.5, 0.8, 0.9, 1]),
            ),
            max_size=6,
        )
    )
    def test_well_formed_header_follows_quality_then_position(self, entries):
        header = ", ".join(tag if q is None else f"{tag};q={q}" for tag, q in entries)
        # RFC 9110: the highest q wins (absent means 1), q=0 means "not acceptable", and
        # among equals the first listed. Only en and es are offered; English otherwise.
        candidates = [
            (1.0 if q is None else q, -position, tag.split("-")[0])
            for position, (tag, q) in enumerate(entries)
            if tag.split("-")[0] in ("en", "es") and (q is None or q > 0)
        ]
        expected = max(candidates)[2] if candidates else "en"
        assert preferred_language(header) == expected


class TestRender:
    def test_spanish_title_and_detail_for_spanish_clients(self):
        problem = render("not_found", lang="es")
        assert problem.title == "No encontrado"
        assert problem.detail == "El recurso solicitado no existe."

    def test_english_title_and_detail_for_english_clients(self):
        problem = render("not_found", lang="en")
        assert problem.title == "Not found"
        assert problem.status == 404
        assert problem.code == "not_found"
        assert problem.type == "urn:cartera:problem:not_found"

    @pytest.mark.parametrize("lang", ["en", "es"])
    @pytest.mark.parametrize("code", sorted(CATALOGUE))
    def test_every_catalogued_code_renders_without_params(self, code, lang):
        problem = render(code, lang=lang)
        kind = CATALOGUE[code]
        assert problem.type.endswith(code)
        assert problem.code == code
        assert problem.status == kind.status
        assert problem.title == (kind.title_es if lang == "es" else kind.title_en)
        assert problem.detail and "{" not in problem.detail and "}" not in problem.detail

    def test_params_fill_the_detail(self):
        problem = render("login_locked", lang="es", params={"retry_after": 42})
        assert "42" in problem.detail and "segundos" in problem.detail

    def test_missing_param_shows_a_placeholder(self):
        problem = render("conflict", lang="en")
        assert problem.detail == "The request conflicts with the current state: ?."

    def test_unknown_code_keeps_its_code_with_the_generic_bad_request_texts(self):
        problem = render("no_such_code", lang="en")
        assert problem.code == "no_such_code"
        assert problem.type.endswith("no_such_code")
        assert problem.status == 400
        assert problem.title == "Bad request"

    def test_explicit_status_detail_and_context_are_kept(self):
        errors = [FieldError(field="body.x", location=["body", "x"], message="m", type="t")]
        problem = render(
            "http_error",
            lang="en",
            status=418,
            detail="Custom.",
            errors=errors,
            request_id="rid",
            instance="/api/v1/x",
        )
        assert problem.status == 418
        assert problem.detail == "Custom."
        assert problem.errors == errors
        assert problem.request_id == "rid" and problem.instance == "/api/v1/x"

    def test_params_with_braces_are_not_reformatted(self):
        problem = render("conflict", lang="en", params={"reason": "{count}"})
        assert problem.detail.endswith(": {count}.")


class TestStatusOfDomainErrors:
    @pytest.mark.parametrize("cls", all_domain_errors(), ids=lambda c: c.__name__)
    def test_every_domain_error_code_is_catalogued(self, cls):
        assert cls.code in CATALOGUE

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (errors.NotFound(), 404),
            (errors.Conflict({"reason": "x"}), 409),
            (errors.InvalidInput("body.x", "bad"), 422),
            (errors.VersionMismatch(), 412),
            (errors.InvalidCredentials(), 401),
            (errors.InvalidClient(), 401),
            (errors.LoginLocked({"retry_after": 1}), 429),
            (errors.NotAuthenticated(), 401),
            (errors.PermissionDenied(), 403),
            (errors.NotReady({"reason": "x"}), 503),
        ],
        ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
    )
    def test_domain_error_maps_to_its_http_status(self, error, status):
        assert status_of(error) == status


class TestValidationFieldErrors:
    RAW = (
        {"type": "missing", "loc": ("body", "username"), "msg": "Field required"},
        {"type": "less_than_equal", "loc": ("query", "limit"), "msg": "Input should be <= 200"},
        {"type": "some_new_type", "loc": ("body", "items", 0, "amount"), "msg": "Odd value"},
    )

    def test_location_becomes_a_dotted_field(self):
        result = validation_field_errors(self.RAW, "en")
        assert [e.field for e in result] == ["body.username", "query.limit", "body.items.0.amount"]
        assert result[2].location == ["body", "items", 0, "amount"]
        assert [e.type for e in result] == ["missing", "less_than_equal", "some_new_type"]

    def test_english_keeps_the_original_messages(self):
        result = validation_field_errors(self.RAW, "en")
        assert [e.message for e in result] == [r["msg"] for r in self.RAW]

    def test_spanish_translates_known_types_and_keeps_unknown_ones(self):
        result = validation_field_errors(self.RAW, "es")
        assert result[0].message == "Campo obligatorio."
        assert result[1].message == "Valor demasiado grande."
        assert result[2].message == "Odd value"

    def test_missing_keys_fall_back_to_a_generic_error(self):
        [error] = validation_field_errors([{}], "es")
        assert error.type == "value_error"
        assert error.field == "" and error.location == []
        assert error.message == FIELD_MESSAGES_ES["value_error"]

    def test_no_errors_give_an_empty_list(self):
        assert validation_field_errors([], "en") == []
