"""RFC 9457 problem details: one catalogue of error codes, one renderer, English and Spanish.

Every error the API answers — domain errors, request validation, HTTP errors raised by the
framework (404 route, 405, 413) and unexpected failures (500) — goes through
:func:`problem_response`, so clients always get ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail``, a stable ``code`` and, for validation, ``errors[]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from app.domain.errors import DomainError
from app.schemas.common import one_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
Lang = Literal["en", "es"]


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    title_en: str
    detail_en: str
    title_es: str
    detail_es: str


# code -> status and human texts; details are str.format templates over the error's params.
CATALOGUE: dict[str, ProblemKind] = {
    "validation_failed": ProblemKind(
        422, "Invalid request", "The request has {count} invalid field(s).",
        "Solicitud inválida", "La solicitud tiene {count} campo(s) inválido(s)."),
    "invalid_input": ProblemKind(
        422, "Invalid input", "The value of '{field}' is not acceptable.",
        "Dato inválido", "El valor de '{field}' no es aceptable."),
    "not_found": ProblemKind(
        404, "Not found", "The requested resource does not exist.",
        "No encontrado", "El recurso solicitado no existe."),
    "conflict": ProblemKind(
        409, "Conflict", "The request conflicts with the current state: {reason}.",
        "Conflicto", "La solicitud entra en conflicto con el estado actual: {reason}."),
    "concurrent_change": ProblemKind(
        409, "Concurrent change", "Another change to the same data won; read it and retry.",
        "Cambio simultáneo", "Otro cambio simultáneo se adelantó; vuelva a leer e intente."),
    "version_mismatch": ProblemKind(
        412, "Version mismatch", "The resource changed since you read it; read it again.",
        "Versión distinta", "El recurso cambió desde que lo leyó; vuelva a leerlo."),
    "precondition_required": ProblemKind(
        428, "Precondition required", "Send the ETag you read as If-Match with this change.",
        "Precondición requerida",
        "Envíe la ETag que leyó en el encabezado If-Match con este cambio."),
    "invalid_credentials": ProblemKind(
        401, "Invalid credentials", "The user name or password is wrong.",
        "Credenciales inválidas", "El usuario o la contraseña son incorrectos."),
    "invalid_client": ProblemKind(
        401, "Invalid client", "The client id or secret is wrong.",
        "Cliente inválido", "El identificador o el secreto del cliente son incorrectos."),
    "invalid_grant": ProblemKind(
        401, "Invalid refresh token",
        "The refresh token is unknown, already used, expired or revoked; log in again.",
        "Token de renovación inválido",
        "El token de renovación no existe, ya se usó, venció o fue revocado; inicie sesión de "
        "nuevo."),
    "login_locked": ProblemKind(
        429, "Too many failed logins",
        "Too many failed attempts; try again after {retry_after} seconds.",
        "Demasiados intentos fallidos",
        "Demasiados intentos fallidos; intente de nuevo en {retry_after} segundos."),
    "rate_limited": ProblemKind(
        429, "Too many requests", "Too many requests of this kind; retry after {retry_after} "
        "seconds.",
        "Demasiadas solicitudes",
        "Demasiadas solicitudes de este tipo; reintente en {retry_after} segundos."),
    "portal_link_invalid": ProblemKind(
        401, "Link not valid",
        "This link is unknown, expired or was replaced by a newer one; ask for a new link.",
        "Enlace no válido",
        "Este enlace no existe, venció o fue reemplazado por uno más reciente; solicite un "
        "enlace nuevo."),
    "portal_link_locked": ProblemKind(
        423, "Link locked",
        "Too many wrong answers: this link is locked; ask for a new link.",
        "Enlace bloqueado",
        "Demasiadas respuestas incorrectas: este enlace quedó bloqueado; solicite un enlace "
        "nuevo."),
    "portal_verification_failed": ProblemKind(
        401, "Could not verify who you are",
        "The answer does not match our records; {remaining} tries left.",
        "No pudimos verificar su identidad",
        "La respuesta no coincide con nuestros registros; le quedan {remaining} intentos."),
    "portal_session_invalid": ProblemKind(
        401, "Session ended",
        "Your portal session ended or is not valid; open your link again.",
        "Sesión terminada",
        "Su sesión del portal terminó o no es válida; abra su enlace de nuevo."),
    "portal_offer_not_allowed": ProblemKind(
        422, "Offer not available",
        "These terms cannot be accepted here: {reason}.",
        "Oferta no disponible",
        "Estos términos no pueden aceptarse aquí: {reason}."),
    "not_authenticated": ProblemKind(
        401, "Not authenticated", "A valid bearer token is required.",
        "No autenticado", "Se requiere un token de acceso válido."),
    "permission_denied": ProblemKind(
        403, "Forbidden", "Your role may not perform this operation.",
        "Prohibido", "Su rol no puede realizar esta operación."),
    "method_not_allowed": ProblemKind(
        405, "Method not allowed", "This resource does not support that method.",
        "Método no permitido", "Este recurso no admite ese método."),
    "request_timeout": ProblemKind(
        408, "Request timeout", "No part of the request body arrived for {seconds} seconds.",
        "Tiempo agotado", "No llegó parte del cuerpo de la solicitud en {seconds} segundos."),
    "database_busy": ProblemKind(
        503, "Busy", "Every database connection is in use; retry in a few seconds.",
        "Ocupado",
        "Todas las conexiones a la base de datos están en uso; reintente en unos segundos."),
    "database_unavailable": ProblemKind(
        503, "Database unavailable",
        "The database cannot be reached right now; retry in a few seconds. A change whose "
        "answer was lost may have been saved: read it back, or retry it with the same "
        "Idempotency-Key.",
        "Base de datos no disponible",
        "No es posible conectar con la base de datos; reintente en unos segundos. Un cambio "
        "cuya respuesta se perdió pudo guardarse: consúltelo, o reinténtelo con la misma "
        "Idempotency-Key."),
    "payload_too_large": ProblemKind(
        413, "Payload too large", "The request body exceeds {limit} bytes.",
        "Contenido demasiado grande", "El cuerpo de la solicitud excede {limit} bytes."),
    "unsupported_media_type": ProblemKind(
        415, "Unsupported media type", "The request body's media type is not accepted.",
        "Tipo de contenido no admitido", "El tipo de contenido de la solicitud no se admite."),
    "unreadable_upload": ProblemKind(
        422, "Unreadable upload", "The upload cannot be read: {reason}.",
        "Archivo ilegible", "No es posible leer el archivo: {reason}."),
    "workbook_too_large": ProblemKind(
        422, "Workbook part too large",
        "The workbook's part '{part}' holds more than {limit} bytes once expanded; no "
        "portfolio needs that much. Send the rows as CSV, or in several files.",
        "Parte del libro demasiado grande",
        "La parte '{part}' del libro de Excel ocupa más de {limit} bytes descomprimida; "
        "ninguna cartera necesita tanto. Envíe las filas en CSV, o en varios archivos."),
    "workbook_cell_too_long": ProblemKind(
        422, "Workbook cell too long",
        "The workbook's part '{part}' holds a cell or tag longer than {limit} characters "
        "({position}); Excel itself holds at most 32,767 characters in a cell.",
        "Celda del libro demasiado larga",
        "La parte '{part}' del libro de Excel contiene una celda o etiqueta de más de {limit} "
        "caracteres ({position}); Excel admite como máximo 32 767 caracteres por celda."),
    "idempotency_key_required": ProblemKind(
        400, "Idempotency-Key required",
        "Send an Idempotency-Key header (1 to 200 visible characters) with this request.",
        "Falta Idempotency-Key",
        "Envíe un encabezado Idempotency-Key (de 1 a 200 caracteres visibles) con la solicitud."),
    "idempotency_key_reused": ProblemKind(
        422, "Idempotency-Key reused",
        "This Idempotency-Key was already used with a different body.",
        "Idempotency-Key reutilizada",
        "Esta Idempotency-Key ya se usó con un contenido distinto."),
    "skill_required": ProblemKind(
        403, "Skill required",
        "Recording a {channel} needs a skill that covers it; yours: {skills}.",
        "Habilidad requerida",
        "Registrar un(a) {channel} requiere una habilidad que lo cubra; las suyas: {skills}."),
    "callback_required": ProblemKind(
        422, "Callback time required",
        "A RPC_CALLBACK result carries the time the debtor agreed to be called back: "
        "`callback.local_time` on the debtor's clock.",
        "Falta la hora de la llamada programada",
        "Un resultado RPC_CALLBACK lleva la hora que el deudor acordó para devolverle la "
        "llamada: `callback.local_time`, en la hora local del deudor."),
    "callback_in_past": ProblemKind(
        422, "Callback time has passed",
        "{local_time} in {time_zone} has already passed: agree a time ahead.",
        "La hora de la llamada programada ya pasó",
        "Las {local_time} en {time_zone} ya pasaron: acuerde una hora posterior."),
    "compliance_incident_resolved": ProblemKind(
        409, "Incident already resolved",
        "This compliance incident was resolved at {resolved_at}; its note stands.",
        "Incidencia ya resuelta",
        "Esta incidencia de cumplimiento se resolvió el {resolved_at}; su nota se mantiene."),
    "credit_insufficient": ProblemKind(
        409, "Not enough credit",
        "The account holds {available} of credit; {requested} is needed. Credit already "
        "refunded or moved must be brought back first.",
        "Saldo a favor insuficiente",
        "La cuenta tiene {available} de saldo a favor; se necesitan {requested}. El saldo ya "
        "devuelto o traspasado debe recuperarse primero."),
    "credit_transfer_target_refused": ProblemKind(
        422, "Credit cannot go to that account",
        "Credit moves only to another active account of the same debtor and partner, in the "
        "same currency ({reason}).",
        "El saldo a favor no puede ir a esa cuenta",
        "El saldo a favor solo se traspasa a otra cuenta activa del mismo deudor y de la misma "
        "empresa convenida, en la misma moneda ({reason})."),
    "payment_not_reversible": ProblemKind(
        409, "Payment cannot be reversed",
        "This payment cannot be reversed ({reason}): it is the receiving end of a credit "
        "transfer from another account of the debtor.",
        "El pago no se puede revertir",
        "Este pago no se puede revertir ({reason}): es la parte receptora de un traspaso de "
        "saldo a favor desde otra cuenta del deudor."),
    "payment_file_line_not_unmatched": ProblemKind(
        409, "Line is not unmatched",
        "Only a line reported unmatched can be applied by hand, once; this line is {outcome}.",
        "La línea no está sin aplicar",
        "Solo una línea reportada sin cuenta (unmatched) se aplica a mano, una sola vez; esta "
        "línea está como {outcome}."),
    "reversal_out_of_order": ProblemKind(
        409, "Reverse the later payment first",
        "This payment counts toward plan {plan_id}, which a later payment completed: reverse "
        "the payment that completed the plan first.",
        "Revierta primero el pago posterior",
        "Este pago cuenta para el plan {plan_id}, que un pago posterior completó: revierta "
        "primero el pago que completó el plan."),
    "escalation_not_open": ProblemKind(
        409, "Escalation not open",
        "Only an open escalation can be taken; this one is {status}.",
        "Escalamiento no abierto",
        "Solo se puede tomar un escalamiento abierto; este ya fue tomado o resuelto."),
    "escalation_resolved": ProblemKind(
        409, "Escalation resolved",
        "The escalation is resolved: it takes no other outcome and no more notes.",
        "Escalamiento resuelto",
        "El escalamiento está resuelto: no admite otro resultado ni más notas."),
    "pause_not_active": ProblemKind(
        409, "Pause not active",
        "Only a pause covering today can be ended, and only once; this one's state is "
        "{state} (ended: it was ended already; over: its last day is past; not_started: it "
        "begins later).",
        "Pausa no vigente",
        "Solo se puede terminar, una sola vez, una pausa que cubre el día de hoy; el estado "
        "de esta es {state} (ended: ya se terminó; over: su último día ya pasó; not_started: "
        "empieza más adelante)."),
    "custody_not_forward": ProblemKind(
        409, "Custody does not move that way",
        "The paper original's custody only moves forward; it cannot go from {current} to "
        "{status}.",
        "La custodia no avanza así",
        "La custodia del documento original solo avanza; no puede pasar del estado actual al "
        "indicado."),
    "not_ready": ProblemKind(
        503, "Not ready", "The service is not ready: {reason}.",
        "No disponible", "El servicio no está listo: {reason}."),
    "http_error": ProblemKind(
        400, "Bad request", "The request could not be processed.",
        "Solicitud incorrecta", "No fue posible procesar la solicitud."),
    "internal_error": ProblemKind(
        500, "Internal error",
        "Something went wrong on our side; quote the request id when reporting it.",
        "Error interno",
        "Ocurrió un error de nuestro lado; cite el identificador de solicitud al reportarlo."),
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

# Spanish wording for the commonest per-field validation messages (pydantic error types).
FIELD_MESSAGES_ES: dict[str, str] = {
    "missing": "Campo obligatorio.",
    "string_too_short": "Texto demasiado corto.",
    "string_too_long": "Texto demasiado largo.",
    "too_long": "Demasiado largo.",
    "string_type": "Debe ser texto.",
    "string_pattern_mismatch": "El formato no es válido.",
    "int_parsing": "Debe ser un número entero.",
    "int_type": "Debe ser un número entero.",
    "decimal_parsing": "Debe ser un número decimal.",
    "bool_parsing": "Debe ser verdadero o falso.",
    "enum": "Valor no permitido.",
    "literal_error": "Valor no permitido.",
    "uuid_parsing": "Debe ser un UUID.",
    "uuid_type": "Debe ser un UUID.",
    "date_parsing": "Debe ser una fecha (AAAA-MM-DD).",
    "datetime_parsing": "Debe ser una fecha y hora ISO 8601.",
    "greater_than_equal": "Valor demasiado pequeño.",
    "less_than_equal": "Valor demasiado grande.",
    "extra_forbidden": "Campo no permitido.",
    "json_invalid": "JSON inválido.",
    "model_attributes_type": "Debe ser un objeto.",
    "list_type": "Debe ser una lista.",
    "value_error": "Valor inválido.",
    # Money (app/schemas/common.py `Money`).
    "money_type": 'Debe ser un texto como "1234.50".',
    "money_format": "Debe ser un importe escrito con dígitos y, si acaso, un punto decimal, "
    "como 1234.50.",
    "money_negative": "No debe ser negativo.",
    "money_too_large": "Importe demasiado grande.",
    "money_too_many_decimals": "Tiene demasiados decimales.",
    "money_not_positive": "Debe ser mayor que cero.",
    # Text (app/schemas/common.py `PlainText`, `TrimmedText`).
    "text_control_character": "No debe contener caracteres de control, como saltos de línea "
    "o tabuladores.",
    # Notes (`NoteText`): line breaks and tabs are fine there.
    "note_control_character": "No debe contener caracteres de control distintos de saltos de "
    "línea y tabuladores.",
}


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


def preferred_language(accept_language: str | None) -> Lang:
    """Spanish when the client prefers it (``es``, ``es-MX`` …), English otherwise."""
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        primary = tag.split("-")[0]
        if primary in ("es", "en"):
            return "es" if primary == "es" else "en"
    return "en"


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(
    code: str,
    *,
    lang: Lang,
    params: Mapping[str, Any] | None = None,
    status: int | None = None,
    errors: Sequence[FieldError] | None = None,
    request_id: str | None = None,
    instance: str | None = None,
    detail: str | None = None,
) -> Problem:
    kind = CATALOGUE.get(code, CATALOGUE["http_error"])
    values = _Lenient(params or {})
    title = kind.title_es if lang == "es" else kind.title_en
    template = kind.detail_es if lang == "es" else kind.detail_en
    return Problem(
        type=f"urn:cartera:problem:{code}",
        title=title,
        status=status or kind.status,
        detail=detail or template.format_map(values),
        code=code,
        instance=instance,
        request_id=request_id,
        errors=list(errors) if errors is not None else None,
    )


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


def validation_field_errors(raw: Sequence[Mapping[str, Any]], lang: Lang) -> list[FieldError]:
    """Pydantic/FastAPI validation errors as FieldErrors, translated where we can."""
    result = []
    for item in raw:
        type_ = str(item.get("type", "value_error"))
        message = str(item.get("msg", "Invalid value."))
        if lang == "es":
            message = FIELD_MESSAGES_ES.get(type_, message)
        result.append(field_error(tuple(item.get("loc", ())), message, type_))
    return result


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses (schema: Problem)."""
    descriptions = {
        400: "Bad request", 401: "Not authenticated", 403: "Forbidden for this role",
        404: "Not found (or not visible to the caller)", 405: "Method not allowed",
        409: "Conflict with the current state", 412: "Version mismatch (If-Match)",
        423: "Locked",
        428: "If-Match required",
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
