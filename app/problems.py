"""RFC 9457 problem details: one catalogue of error codes, one renderer, every language.

Every error the API answers — domain errors, request validation, HTTP errors raised by the
framework (404 route, 405, 413) and unexpected failures (500) — goes through
:func:`problem_response`, so clients always get ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail``, a stable ``code`` and, for validation, ``errors[]``, in the
language :func:`app.i18n.negotiate` picked from ``Accept-Language``.

Adding a problem:

1. a domain error class in ``app/domain/`` with its ``code``;
2. an entry here, **English only**: ``"code": ProblemKind(409, N_("Title"), N_("Detail with
   {param}."))``. The detail is a ``str.format`` template over the error's params. A param
   whose value is a code (a status, a reason) names its wording in ``words=``, so that
   a Spanish reader gets Spanish words, not the code; a param holding a sentence gets an
   :class:`app.i18n.Message` (rendered in the reader's language);
3. ``make messages``, then the Spanish and Brazilian Portuguese texts in
   ``app/locale/{es,pt_BR}/LC_MESSAGES/cartera.po`` (tests/domain/test_catalog.py lists
   what is missing; tests/domain/test_problems.py checks no English is left).

``ProblemKind`` takes no translations: the old five-field shape (``title_en``, ``detail_en``,
``title_es``, ``detail_es``) fails at import, so a Spanish text cannot be dropped silently;
move it to ``app/locale/es/LC_MESSAGES/cartera.po`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from app.domain.accounts import ACCOUNT_STATUS_WORDS
from app.domain.contact_check_packs import CHANNEL_WORDS
from app.domain.credit_movements import MOVEMENT_STATUS_WORDS
from app.domain.errors import DomainError, InvalidValue
from app.domain.plans import PLAN_STATUS_WORDS
from app.i18n import N_, Language, Message, text_of, translate
from app.i18n import render as render_text
from app.schemas.common import one_of

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One problem code: its HTTP status, English title and English detail template (both
    marked N_; translations live in the .po catalogues), and the wording of params whose
    values are codes (param name -> code -> English words, marked N_)."""

    status: int
    title: str
    detail: str
    words: Mapping[str, Mapping[str, str]] = field(default_factory=dict, kw_only=True)


# Wording of the codes some details name, translated like every other text.
_TAKEN = {
    "user_name": N_("user name"),
    "team_name": N_("team name"),
    "partner_tax_id": N_("tax id in that country"),
    "client_id": N_("client id"),
}
_ESCALATION_STATUS = {"open": N_("open"), "taken": N_("taken"), "resolved": N_("resolved")}
_PAUSE_STATE = {
    "ended": N_("was ended already"),
    "over": N_("is over: its last day is past"),
    "not_started": N_("has not started: it begins later"),
}
_LINE_OUTCOME = {
    "matched": N_("matched"),
    "matched_by_reference": N_("matched by reference"),
    "matched_by_hand": N_("applied by hand"),
    "unmatched": N_("unmatched"),
    "duplicate": N_("a duplicate"),
    "rejected": N_("rejected"),
}
_TRANSFER_REFUSAL = {
    "same_account": N_("it is the same account"),
    "other_debtor": N_("it belongs to another debtor"),
    "other_partner": N_("it belongs to another partner"),
    "other_currency": N_("it is in another currency"),
    "not_active": N_("it is not active"),
}
_NOT_REVERSIBLE = {"credit_transfer": N_("a credit transfer")}
_CHANNEL = {channel.value: words for channel, words in CHANNEL_WORDS.items()}
_SKILL = {"phone": N_("phone"), "field": N_("field")}
_EXPERIMENT_END = {"stopped": N_("stopped"), "promoted": N_("ended by a promotion")}

# code -> status and English texts; details are str.format templates over the error's params.
CATALOGUE: dict[str, ProblemKind] = {
    "validation_failed": ProblemKind(
        422, N_("Invalid request"), N_("The request has {count} invalid field(s).")),
    "invalid_input": ProblemKind(
        422, N_("Invalid input"), N_("The value of '{field}' is not acceptable.")),
    "not_found": ProblemKind(
        404, N_("Not found"), N_("The requested resource does not exist.")),
    "conflict": ProblemKind(
        409, N_("Conflict"), N_("The request conflicts with the current state: {reason}.")),
    "concurrent_change": ProblemKind(
        409, N_("Concurrent change"),
        N_("Another change to the same data won; read it and retry.")),
    "version_mismatch": ProblemKind(
        412, N_("Version mismatch"),
        N_("The resource changed since you read it; read it again.")),
    "precondition_required": ProblemKind(
        428, N_("Precondition required"),
        N_("Send the ETag you read as If-Match with this change.")),
    "invalid_credentials": ProblemKind(
        401, N_("Invalid credentials"), N_("The user name or password is wrong.")),
    "invalid_client": ProblemKind(
        401, N_("Invalid client"), N_("The client id or secret is wrong.")),
    "invalid_grant": ProblemKind(
        401, N_("Invalid refresh token"),
        N_("The refresh token is unknown, already used, expired or revoked; log in again.")),
    "login_locked": ProblemKind(
        429, N_("Too many failed logins"),
        N_("Too many failed attempts; try again after {retry_after} seconds.")),
    "rate_limited": ProblemKind(
        429, N_("Too many requests"),
        N_("Too many requests of this kind; retry after {retry_after} seconds.")),
    "portal_link_invalid": ProblemKind(
        401, N_("Link not valid"),
        N_("This link is unknown, expired or was replaced by a newer one; ask for a new "
           "link.")),
    "portal_link_locked": ProblemKind(
        423, N_("Link locked"),
        N_("Too many wrong answers: this link is locked; ask for a new link.")),
    "portal_verification_failed": ProblemKind(
        401, N_("Could not verify who you are"),
        N_("The answer does not match our records; {remaining} tries left.")),
    "portal_session_invalid": ProblemKind(
        401, N_("Session ended"),
        N_("Your portal session ended or is not valid; open your link again.")),
    "portal_offer_not_allowed": ProblemKind(
        422, N_("Offer not available"), N_("These terms cannot be accepted here: {reason}.")),
    "not_authenticated": ProblemKind(
        401, N_("Not authenticated"), N_("A valid bearer token is required.")),
    "permission_denied": ProblemKind(
        403, N_("Forbidden"), N_("Your role may not perform this operation.")),
    "method_not_allowed": ProblemKind(
        405, N_("Method not allowed"), N_("This resource does not support that method.")),
    "request_timeout": ProblemKind(
        408, N_("Request timeout"),
        N_("No part of the request body arrived for {seconds} seconds.")),
    "database_busy": ProblemKind(
        503, N_("Busy"), N_("Every database connection is in use; retry in a few seconds.")),
    "database_unavailable": ProblemKind(
        503, N_("Database unavailable"),
        N_("The database cannot be reached right now; retry in a few seconds. A change whose "
           "answer was lost may have been saved: read it back, or retry it with the same "
           "Idempotency-Key.")),
    "payload_too_large": ProblemKind(
        413, N_("Payload too large"), N_("The request body exceeds {limit} bytes.")),
    "unsupported_media_type": ProblemKind(
        415, N_("Unsupported media type"),
        N_("The request body's media type is not accepted.")),
    "unreadable_upload": ProblemKind(
        422, N_("Unreadable upload"), N_("The upload cannot be read: {reason}.")),
    "workbook_too_large": ProblemKind(
        422, N_("Workbook part too large"),
        N_("The workbook's part '{part}' holds more than {limit} bytes once expanded; no "
           "portfolio needs that much. Send the rows as CSV, or in several files.")),
    "workbook_cell_too_long": ProblemKind(
        422, N_("Workbook cell too long"),
        N_("The workbook's part '{part}' holds a cell or tag longer than {limit} characters "
           "({position}); Excel itself holds at most 32,767 characters in a cell.")),
    "idempotency_key_required": ProblemKind(
        400, N_("Idempotency-Key required"),
        N_("Send an Idempotency-Key header (1 to 200 visible characters) with this request.")),
    "idempotency_key_reused": ProblemKind(
        422, N_("Idempotency-Key reused"),
        N_("This Idempotency-Key was already used with a different body.")),
    "skill_required": ProblemKind(
        403, N_("Skill required"),
        N_("Recording a contact by {channel} needs a skill that covers it; yours: {skills}."),
        words={"channel": _CHANNEL, "skills": _SKILL}),
    "callback_required": ProblemKind(
        422, N_("Callback time required"),
        N_("A RPC_CALLBACK result carries the time the debtor agreed to be called back: "
           "`callback.local_time` on the debtor's clock.")),
    "callback_in_past": ProblemKind(
        422, N_("Callback time has passed"),
        N_("{local_time} in {time_zone} has already passed: agree a time ahead.")),
    "compliance_incident_resolved": ProblemKind(
        409, N_("Incident already resolved"),
        N_("This compliance incident was resolved at {resolved_at}; its note stands.")),
    "credit_insufficient": ProblemKind(
        409, N_("Not enough credit"),
        N_("The account holds {available} of credit; {requested} is needed. Credit already "
           "refunded or moved must be brought back first.")),
    "credit_transfer_target_refused": ProblemKind(
        422, N_("Credit cannot go to that account"),
        N_("Credit moves only to another active account of the same debtor and partner, in "
           "the same currency ({reason})."),
        words={"reason": _TRANSFER_REFUSAL}),
    "experiment_already_running": ProblemKind(
        409, N_("Experiment already running"),
        N_("The partner's strategy for this stage ({stage}) already runs an experiment; stop "
           "it or promote a challenger first.")),
    "experiment_ended": ProblemKind(
        409, N_("Experiment ended"),
        N_("The experiment was {status} already: it can no longer be stopped or promoted."),
        words={"status": _EXPERIMENT_END}),
    "payment_not_reversible": ProblemKind(
        409, N_("Payment cannot be reversed"),
        N_("This payment cannot be reversed ({reason}): it is the receiving end of a credit "
           "transfer from another account of the debtor."),
        words={"reason": _NOT_REVERSIBLE}),
    "payment_file_line_not_unmatched": ProblemKind(
        409, N_("Line is not unmatched"),
        N_("Only a line reported unmatched can be applied by hand, once; this line is "
           "{outcome}."),
        words={"outcome": _LINE_OUTCOME}),
    "reversal_out_of_order": ProblemKind(
        409, N_("Reverse the later payment first"),
        N_("This payment counts toward plan {plan_id}, which a later payment completed: "
           "reverse the payment that completed the plan first.")),
    "escalation_not_open": ProblemKind(
        409, N_("Escalation not open"),
        N_("Only an open escalation can be taken; this one is {status}."),
        words={"status": _ESCALATION_STATUS}),
    "escalation_resolved": ProblemKind(
        409, N_("Escalation resolved"),
        N_("The escalation is resolved: it takes no other outcome and no more notes.")),
    "pause_not_active": ProblemKind(
        409, N_("Pause not active"),
        N_("Only a pause covering today can be ended, and only once; this one {state}."),
        words={"state": _PAUSE_STATE}),
    "custody_not_forward": ProblemKind(
        409, N_("Custody does not move that way"),
        N_("The paper original's custody only moves forward; it cannot go from {current} to "
           "{status}.")),
    "account_not_active": ProblemKind(
        409, N_("Account not active"),
        N_("The account is {status}: it is no longer worked, paid into or changed."),
        words={"status": ACCOUNT_STATUS_WORDS}),
    "open_plan_exists": ProblemKind(
        409, N_("Open plan exists"),
        N_("The account already has an open payment plan; cancel it, or wait until it is "
           "completed or broken, before another.")),
    "plan_not_pending": ProblemKind(
        409, N_("Plan not awaiting approval"),
        N_("Only a plan pending approval can be approved or rejected; this one is {status}."),
        words={"status": PLAN_STATUS_WORDS}),
    "plan_not_open": ProblemKind(
        409, N_("Plan not open"),
        N_("Only a proposed, pending or active plan can be cancelled; this one is {status}."),
        words={"status": PLAN_STATUS_WORDS}),
    "agreement_not_issuable": ProblemKind(
        409, N_("No agreement for this plan"),
        N_("An agreement is issued for an active, completed or broken plan (or kept for one "
           "cancelled after it was issued); this plan is {status}."),
        words={"status": PLAN_STATUS_WORDS}),
    "credit_movement_not_pending": ProblemKind(
        409, N_("Credit movement already decided"),
        N_("Only a credit movement pending approval can be decided; this one is {status}."),
        words={"status": MOVEMENT_STATUS_WORDS}),
    "payer_reference_used": ProblemKind(
        409, N_("Payer reference already used"),
        N_("A payment with this payer reference was already applied for the partner; the "
           "same money is never applied twice.")),
    "payment_already_reversed": ProblemKind(
        409, N_("Payment already reversed"), N_("This payment was reversed already.")),
    "flag_already_set": ProblemKind(
        409, N_("Flag already set"),
        N_("The debtor already carries this flag ({flag_id}); clear it before setting it "
           "again.")),
    "flag_already_cleared": ProblemKind(
        409, N_("Flag already cleared"), N_("This flag was cleared already.")),
    "interaction_already_corrected": ProblemKind(
        409, N_("Interaction already corrected"),
        N_("This interaction was corrected already by {interaction_id}: correct that one "
           "instead.")),
    "pause_limit_exceeded": ProblemKind(
        409, N_("Too many pause days"),
        N_("The account's pauses would add up to {total} days; the most is {most}.")),
    "pause_overlaps": ProblemKind(
        409, N_("Pause overlaps another"),
        N_("The pause overlaps another pause of the account ({starts_on} to {ends_on}).")),
    "allocation_running": ProblemKind(
        409, N_("Allocation under way"),
        N_("Another allocation run is under way; try again when it ends.")),
    "partner_inactive": ProblemKind(
        409, N_("Partner inactive"), N_("The partner is inactive: it sends no new portfolio.")),
    "name_taken": ProblemKind(
        409, N_("Already taken"), N_("That {what} is taken already."),
        words={"what": _TAKEN}),
    "last_admin": ProblemKind(
        409, N_("Last administrator"),
        N_("The last active administrator cannot be demoted or deactivated.")),
    "not_ready": ProblemKind(
        503, N_("Not ready"), N_("The service is not ready: {reason}.")),
    "http_error": ProblemKind(
        400, N_("Bad request"), N_("The request could not be processed.")),
    "internal_error": ProblemKind(
        500, N_("Internal error"),
        N_("Something went wrong on our side; quote the request id when reporting it.")),
}  # fmt: skip

# Status codes the framework raises itself, with the code they are reported under.
STATUS_CODES: dict[int, str] = {
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    500: "internal_error",
    503: "not_ready",
}

# Per-field validation messages by pydantic error type: English templates over the error's
# ``ctx`` (marked N_), for readers of another language. English readers get pydantic's own
# message (or the validator's), which says the same. Lists of allowed values (``expected``)
# are kept, without pydantic's English "or". A type missing here gets ``value_error``'s.
FIELD_MESSAGES: dict[str, str] = {
    "missing": N_("Field required."),
    "string_too_short": N_("Text too short: at least {min_length} character(s)."),
    "string_too_long": N_("Text too long: at most {max_length} character(s)."),
    "too_short": N_("Too few items: at least {min_length}."),
    "too_long": N_("Too many items: at most {max_length}."),
    "string_type": N_("Must be text."),
    "string_pattern_mismatch": N_("The format is not valid."),
    "string_unicode": N_("Must be valid Unicode text."),
    "int_parsing": N_("Must be a whole number."),
    "int_type": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "float_parsing": N_("Must be a number."),
    "float_type": N_("Must be a number."),
    "finite_number": N_("Must be a finite number."),
    "decimal_parsing": N_("Must be a decimal number."),
    "decimal_type": N_("Must be a decimal number."),
    "decimal_max_digits": N_("At most {max_digits} digits."),
    "decimal_max_places": N_("At most {decimal_places} decimal places."),
    "decimal_whole_digits": N_("At most {whole_digits} digits before the decimal point."),
    "bool_parsing": N_("Must be true or false."),
    "bool_type": N_("Must be true or false."),
    "enum": N_("Must be one of: {expected}."),
    "literal_error": N_("Must be one of: {expected}."),
    "union_tag_invalid": N_("Must be one of: {expected_tags}."),
    "uuid_parsing": N_("Must be a UUID."),
    "uuid_type": N_("Must be a UUID."),
    "date_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_inexact": N_("Must be a date without a time (YYYY-MM-DD)."),
    "date_type": N_("Must be a date (YYYY-MM-DD)."),
    "datetime_parsing": N_("Must be an ISO 8601 date and time."),
    "datetime_from_date_parsing": N_("Must be an ISO 8601 date and time."),
    "datetime_type": N_("Must be an ISO 8601 date and time."),
    "timezone_aware": N_("Must carry a time zone, like 2026-11-24T15:30:00Z."),
    "time_parsing": N_("Must be a time of day (HH:MM)."),
    "time_type": N_("Must be a time of day (HH:MM)."),
    "greater_than": N_("Must be greater than {gt}."),
    "greater_than_equal": N_("Must be at least {ge}."),
    "less_than": N_("Must be less than {lt}."),
    "less_than_equal": N_("Must be at most {le}."),
    "multiple_of": N_("Must be a multiple of {multiple_of}."),
    "extra_forbidden": N_("Field not allowed."),
    "json_invalid": N_("Invalid JSON."),
    "json_type": N_("Must be valid JSON."),
    "body_unreadable": N_("Not UTF-8 JSON."),
    "model_attributes_type": N_("Must be an object."),
    "model_type": N_("Must be an object."),
    "dict_type": N_("Must be an object."),
    "list_type": N_("Must be a list."),
    "set_type": N_("Must be a list."),
    "value_error": N_("Invalid value."),
    "assertion_error": N_("Invalid value."),
    "invalid": N_("Invalid value."),
    # Money (app/schemas/common.py `Money`).
    "money_type": N_('Must be a text such as "1234.50".'),
    "money_format": N_("Must be an amount written with digits and, if need be, a decimal "
                       "point, such as 1234.50."),
    "money_negative": N_("Must not be negative."),
    "money_too_large": N_("Amount too large."),
    "money_too_many_decimals": N_("Too many decimals."),
    "money_not_positive": N_("Must be more than zero."),
    # Text (app/schemas/common.py `PlainText`, `TrimmedText`).
    "text_control_character": N_("Must not contain control characters, such as line breaks "
                                 "or tabs."),
    # Notes (`NoteText`): line breaks and tabs are fine there.
    "note_control_character": N_("Must not contain control characters other than line "
                                 "breaks and tabs."),
}  # fmt: skip


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted path, e.g. `body.username` or `query.limit`.")
    location: list[str | int]
    message: str
    type: str = Field(description="Machine code of the failure, e.g. `missing`.")


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details), always `application/problem+json`."""

    type: str = Field(examples=["urn:cartera:problem:not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(
        description="Stable machine code; the same in every language (GET /catalog, "
        "`problem_codes`).",
        json_schema_extra=one_of(CATALOGUE),
    )
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def render(
    code: str,
    *,
    lang: Language,
    params: Mapping[str, Any] | None = None,
    status: int | None = None,
    errors: Sequence[FieldError] | None = None,
    request_id: str | None = None,
    instance: str | None = None,
    detail: str | None = None,
) -> Problem:
    """The problem ``code`` in ``lang``: its title, and its detail filled with ``params``
    (a code among them in its words, a :class:`Message` rendered), unless ``detail`` is
    given already written."""
    kind = CATALOGUE.get(code, CATALOGUE["http_error"])
    values = {name: _worded(kind.words.get(name), value) for name, value in (params or {}).items()}
    return Problem(
        type=f"urn:cartera:problem:{code}",
        title=translate(kind.title, lang),
        status=status or kind.status,
        detail=detail or render_text(kind.detail, lang, values),
        code=code,
        instance=instance,
        request_id=request_id,
        errors=list(errors) if errors is not None else None,
    )


def _worded(words: Mapping[str, str] | None, value: Any) -> Any:
    """A code param as its words (a Message, rendered with the detail); a list of codes as
    their words joined; anything else as it is."""
    if words is None:
        return value
    if isinstance(value, list | tuple):
        if not value:
            return Message(N_("none"))
        keys = [f"item{index}" for index in range(len(value))]
        template = ", ".join("{" + key + "}" for key in keys)
        return Message(
            template, {key: _worded(words, v) for key, v in zip(keys, value, strict=True)}
        )
    return Message(words[value]) if isinstance(value, str) and value in words else value


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def status_of(error: DomainError) -> int:
    return CATALOGUE.get(error.code, CATALOGUE["http_error"]).status


def field_error(location: Sequence[str | int], message: str, type_: str) -> FieldError:
    return FieldError(
        field=".".join(str(p) for p in location),
        location=list(location),
        message=message,
        type=type_,
    )


def validation_field_errors(raw: Sequence[Mapping[str, Any]], lang: Language) -> list[FieldError]:
    """Pydantic/FastAPI validation errors as FieldErrors: English as pydantic says it, any
    other language from :data:`FIELD_MESSAGES` with the error's ``ctx`` (a type missing
    there gets the generic message rather than English), or the validator's own text where
    it raised :class:`~app.domain.errors.InvalidValue`."""
    result = []
    for item in raw:
        type_ = str(item.get("type", "value_error"))
        message = str(item.get("msg", "Invalid value."))
        refusal = (item.get("ctx") or {}).get("error")
        if lang != "en" and isinstance(refusal, InvalidValue):
            message = refusal.text.render(lang)
        elif lang != "en":
            context = _context(item.get("ctx"))
            template = FIELD_MESSAGES.get(type_, FIELD_MESSAGES["value_error"])
            if not _placeholders(template) <= context.keys():
                template = FIELD_MESSAGES["value_error"]
            message = render_text(template, lang, context)
        result.append(field_error(tuple(item.get("loc", ())), message, type_))
    return result


# The parts of a request a field error may point into. Domain errors name a field of the
# request's body by its own path ("amount", "stages.early.caps.call"); here, and only here,
# it becomes a location in the request ("body.amount"). A service checking a query parameter
# or a header names its part itself ("query.limit").
REQUEST_PARTS = frozenset({"body", "query", "path", "header"})


def request_location(field: str) -> list[str]:
    """Where in the request a domain error's ``field`` is: a body field unless it names its
    part."""
    parts = field.split(".")
    return parts if parts[0] in REQUEST_PARTS else ["body", *parts]


def domain_field_errors(error: DomainError, lang: Language) -> list[FieldError] | None:
    """A domain error's per-field messages in ``lang`` (None when it has none)."""
    return [
        field_error(
            [name] if error.fields_name_columns else request_location(name),
            text_of(message, lang),
            "invalid",
        )
        for name, message in error.field_errors
    ] or None


def domain_params(error: DomainError) -> dict[str, Any]:
    """A domain error's params for its problem's detail, its ``field`` (if any) as a
    location in the request."""
    params = dict(error.params)
    if isinstance(params.get("field"), str):
        params["field"] = ".".join(request_location(params["field"]))
    return params


# A quoted value in pydantic's ``expected`` ("'a', 'b' or 'c'"), as repr writes it.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _choices(expected: str) -> str:
    """Pydantic's list of allowed values without its English "or": "'a', 'b', 'c'"."""
    quoted = _QUOTED.findall(expected)
    if quoted:
        return ", ".join(quoted)
    return ", ".join(part for part in re.split(r",\s*|\s+or\s+", expected) if part)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _context(ctx: object) -> dict[str, Any]:
    if not isinstance(ctx, Mapping):
        return {}
    values = {str(key): value for key, value in ctx.items()}
    for key in ("expected", "expected_tags"):
        if isinstance(values.get(key), str):
            values[key] = _choices(values[key])
    return values


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses (schema: Problem)."""
    descriptions = {
        400: "Bad request", 401: "Not authenticated", 403: "Forbidden for this role",
        404: "Not found (or not visible to the caller)", 405: "Method not allowed",
        409: "Conflict with the current state", 412: "Version mismatch (If-Match)",
        423: "Locked", 428: "If-Match required",
        413: "Request body too large", 415: "Unsupported media type",
        422: "Invalid request (per-field errors)", 429: "Too many requests",
        500: "Internal error", 503: "Not ready",
    }  # fmt: skip
    return {
        status: {
            "description": descriptions.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
