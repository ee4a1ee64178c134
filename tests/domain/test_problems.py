"""Problem details: language negotiation, rendering and field errors (``app.problems``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from string import Formatter
from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from app.domain import errors
from app.i18n import LANGUAGES, Message, translate
from app.problems import (
    CATALOGUE,
    FIELD_MESSAGES,
    FieldError,
    ProblemKind,
    domain_field_errors,
    domain_params,
    render,
    request_location,
    status_of,
    validation_field_errors,
)
from tests.helpers.i18n import english_words


def all_domain_errors() -> list[type[errors.DomainError]]:
    found, pending = [], [errors.DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls is not errors.DomainError]


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

    def test_brazilian_portuguese_title_and_detail_for_brazilian_clients(self):
        problem = render("not_found", lang="pt-BR")
        assert problem.title == "Não encontrado"
        assert problem.detail == "O recurso solicitado não existe."

    @pytest.mark.parametrize("lang", LANGUAGES)
    @pytest.mark.parametrize("code", sorted(CATALOGUE))
    def test_every_catalogued_code_renders_without_params(self, code, lang):
        problem = render(code, lang=lang)
        kind = CATALOGUE[code]
        assert problem.type.endswith(code)
        assert problem.code == code
        assert problem.status == kind.status
        assert problem.title == translate(kind.title, lang)
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

    def test_a_code_param_is_given_in_words(self):
        problem = render("pause_not_active", lang="pt-BR", params={"state": "over"})
        assert problem.detail.endswith("esta já acabou: seu último dia ficou para trás.")
        english = render("pause_not_active", lang="en", params={"state": "not_started"})
        assert english.detail.endswith("this one has not started: it begins later.")

    def test_a_list_of_codes_is_given_in_words(self):
        problem = render(
            "skill_required", lang="es", params={"channel": "visit", "skills": ["phone"]}
        )
        assert problem.detail == (
            "Registrar un contacto por visita de campo requiere una habilidad que lo cubra; "
            "las suyas: teléfono."
        )

    def test_a_conflict_names_its_status_in_the_readers_words(self):
        error = errors.PlanNotPending("broken")
        problem = render(error.code, lang="es", params=error.params)
        assert problem.status == 409
        assert problem.detail.endswith("este está incumplido.")


# A value for each param a detail names (the code params are walked through their words).
SAMPLE_PARAMS = {
    "count": 3,
    "field": "body.amount",
    "retry_after": 42,
    "seconds": 30,
    "limit": 1048576,
    "available": "120.00",
    "requested": "300.00",
    "plan_id": "0b6a3c2e-5d1f-4c4e-9a43-1f2d3c4b5a69",
    "resolved_at": "2026-11-24T15:30:00Z",
    "reason": Message("{number}", {"number": 7}),
}


def _renderings(code: str, kind: ProblemKind) -> list[dict[str, object]]:
    """Params for the detail: samples, and each word of each code param in turn."""
    names = {name for _, name, _, _ in Formatter().parse(kind.detail) if name}
    base = {name: SAMPLE_PARAMS.get(name, "x") for name in names}
    variants = [base]
    for name, words in kind.words.items():
        variants.extend({**base, name: code} for code in words)
        variants.append({**base, name: sorted(words)})
    return variants


class TestNoEnglishLeftInOtherLanguages:
    """Every problem, with representative params and every word of its code params, reads
    in Spanish and Brazilian Portuguese without an English sentence."""

    @pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
    @pytest.mark.parametrize("code", sorted(CATALOGUE))
    def test_title_and_detail(self, code, lang):
        kind = CATALOGUE[code]
        for params in _renderings(code, kind):
            problem = render(code, lang=lang, params=params)
            english = render(code, lang="en", params=params)
            assert problem.title != english.title or problem.title in SAME_IN_EVERY_LANGUAGE
            assert problem.detail != english.detail, (code, params)
            assert not english_words(problem.title), (code, problem.title)
            assert not english_words(problem.detail), (code, problem.detail)
            assert "{" not in problem.detail and "?" not in problem.detail


SAME_IN_EVERY_LANGUAGE = {"Idempotency-Key reutilizada", "Cliente inválido", "Ocupado"}


class TestProblemKindShape:
    def test_the_old_five_field_shape_fails_loudly(self):
        with pytest.raises(TypeError):
            ProblemKind(409, "Conflict", "Detail.", "Conflicto", "Detalle.")  # type: ignore[call-arg]


class TestStatusOfDomainErrors:
    @pytest.mark.parametrize("cls", all_domain_errors(), ids=lambda c: c.__name__)
    def test_every_domain_error_code_is_catalogued(self, cls):
        assert cls.code in CATALOGUE

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (errors.NotFound(), 404),
            (errors.OpenPlanExists(), 409),
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

    def test_spanish_translates_known_types_and_unknown_ones_generically(self):
        result = validation_field_errors(self.RAW, "es")
        assert result[0].message == "Campo obligatorio."
        assert result[1].message == "Valor inválido."  # no ctx: no limit to name
        assert result[2].message == "Valor inválido."

    def test_missing_keys_fall_back_to_a_generic_error(self):
        [error] = validation_field_errors([{}], "es")
        assert error.type == "value_error"
        assert error.field == "" and error.location == []
        assert error.message == translate(FIELD_MESSAGES["value_error"], "es")

    def test_no_errors_give_an_empty_list(self):
        assert validation_field_errors([], "en") == []


class _Form(BaseModel):
    """A request with the commonest kinds of field rule."""

    channel: Literal["call", "sms", "visit"]
    party: _Party
    name: str = Field(min_length=2, max_length=5)
    limit: int = Field(ge=1, le=200)
    amount: Decimal = Field(max_digits=6, decimal_places=2)
    on: date
    items: list[int] = Field(max_length=2)


class _Party(StrEnum):
    DEBTOR = "debtor"
    GUARANTOR = "guarantor"


_Form.model_rebuild()


def _raw_errors(**values: object) -> list[dict[str, object]]:
    good = {
        "channel": "call",
        "party": "debtor",
        "name": "Ana",
        "limit": 5,
        "amount": "1.00",
        "on": "2026-01-02",
        "items": [],
    }
    try:
        _Form.model_validate({**good, **values})
    except ValidationError as exc:
        return [dict(error) for error in exc.errors()]
    raise AssertionError("valid")


class TestFieldMessagesInEveryLanguage:
    @pytest.mark.parametrize(
        ("lang", "expected"),
        [
            ("es", "Debe ser uno de: 'call', 'sms', 'visit'."),
            ("pt-BR", "Deve ser um de: 'call', 'sms', 'visit'."),
        ],
    )
    def test_a_literal_keeps_its_allowed_values(self, lang, expected):
        [error] = validation_field_errors(_raw_errors(channel="fax"), lang)
        assert error.message == expected
        assert error.type == "literal_error"

    def test_an_enum_keeps_its_allowed_values(self):
        [error] = validation_field_errors(_raw_errors(party="cousin"), "es")
        assert error.message == "Debe ser uno de: 'debtor', 'guarantor'."

    def test_english_keeps_pydantic_s_own_message(self):
        [error] = validation_field_errors(_raw_errors(channel="fax"), "en")
        assert error.message == "Input should be 'call', 'sms' or 'visit'"

    @pytest.mark.parametrize(
        ("values", "es", "pt"),
        [
            ({"name": "A"}, "al menos 2", "pelo menos 2"),
            ({"name": "Abcdefg"}, "como máximo 5", "no máximo 5"),
            ({"limit": 0}, "al menos 1", "pelo menos 1"),
            ({"limit": 201}, "como máximo 200", "no máximo 200"),
            ({"amount": "1.234"}, "2 decimales", "2 casas decimais"),
            ({"items": [1, 2, 3]}, "como máximo 2", "no máximo 2"),
            ({"on": "mañana"}, "fecha", "data"),
            ({"limit": "x"}, "entero", "inteiro"),
        ],
    )
    def test_limits_are_named_in_the_reader_s_language(self, values, es, pt):
        raw = _raw_errors(**values)
        [spanish] = validation_field_errors(raw, "es")
        [portuguese] = validation_field_errors(raw, "pt-BR")
        assert es in spanish.message and pt in portuguese.message
        for error in (spanish, portuguese):
            assert not english_words(error.message), error.message

    def test_every_message_the_table_gives_reads_without_english(self):
        for lang in ("es", "pt-BR"):
            for type_, template in FIELD_MESSAGES.items():
                assert translate(template, lang) != template or type_ == "json_invalid", type_


def test_no_conflict_is_raised_without_its_own_code():
    """Every 409 a client may act on has a code of its own (``open_plan_exists``,
    ``plan_not_pending``…), never the bare ``conflict`` with a free-text reason."""
    import ast
    from pathlib import Path

    import app

    bare = []
    for path in Path(app.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Conflict"
            ):
                bare.append(f"{path}:{node.lineno}")
    assert bare == []


def test_each_conflict_has_its_own_catalogue_entry_and_status_409():
    from app.domain import errors
    from app.problems import CATALOGUE

    kinds = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.Conflict) and cls is not errors.Conflict
    ]
    assert len(kinds) >= 17
    assert len({cls.code for cls in kinds}) == len(kinds)
    for cls in kinds:
        assert CATALOGUE[cls.code].status == 409, cls.code


class TestRequestLocation:
    """Domain errors name body fields by their own path; the edge places them in the request."""

    @pytest.mark.parametrize(
        ("field", "location"),
        [
            ("amount", ["body", "amount"]),
            ("pcr.problem_category", ["body", "pcr", "problem_category"]),
            ("member_ids.2", ["body", "member_ids", "2"]),
            ("body", ["body"]),
            ("body.amount", ["body", "amount"]),
            ("query.limit", ["query", "limit"]),
            ("path.account_id", ["path", "account_id"]),
            ("header.if-match", ["header", "if-match"]),
        ],
    )
    def test_a_field_is_in_the_body_unless_it_names_its_part(self, field, location):
        assert request_location(field) == location

    def test_the_problem_of_a_plain_field_points_into_the_body(self):
        error = errors.InvalidInput("installments", "must be between 1 and {n}", {"n": 3})
        (only,) = domain_field_errors(error, "en") or []
        assert (only.field, only.location) == ("body.installments", ["body", "installments"])
        assert domain_params(error) == {"field": "body.installments", "n": 3}


def literals_naming_the_body(source: str) -> list[int]:
    """The lines of ``source`` with a string literal (an f-string's text included) that
    starts with ``body.``; docstrings may say where a field lands in the request."""
    import ast

    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("body.")
        and id(node) not in docstrings
    )


class TestDomainErrorsNamePlainFields:
    """Only the edge (``request_location``) writes ``body.``: a service or domain rule names
    the field as the body has it, so a rule reads the same wherever its input comes from."""

    def test_the_rule_sees_plain_and_formatted_literals_but_not_docstrings(self):
        source = (
            '"""A module placing its fields at body.amount."""\n'
            "def check(i):\n"
            '    """Refuses body.amount."""\n'
            '    raise InvalidInput("body.amount", "too much")\n'
            "def each(i):\n"
            '    return f"body.tiers.{i}", "query.limit", "body", "amount"\n'
            "class Rule:\n"
            '    """Names body.tiers."""\n'
            '    FIELD = "body.tiers"\n'
        )
        assert literals_naming_the_body(source) == [4, 6, 9]

    def test_no_service_domain_or_router_module_writes_the_body_prefix(self):
        from pathlib import Path

        import app

        root = Path(app.__file__).parent
        found = {
            str(path.relative_to(root)): lines
            for part in ("services", "domain", "routers")
            for path in sorted((root / part).rglob("*.py"))
            if (lines := literals_naming_the_body(path.read_text(encoding="utf-8")))
        }
        assert found == {}
