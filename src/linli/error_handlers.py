"""One error shape for the API, friendly pages for browsers, never a stack trace to a user."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from linli.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from linli.i18n import N_, Message

log = logging.getLogger(__name__)

# pydantic error type -> message id, formatted with the error's context.
_VALIDATION_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not allowed."),
    "string_type": N_("Enter text."),
    "string_too_short": N_("Enter at least {min_length} characters."),
    "string_too_long": N_("Enter at most {max_length} characters."),
    "string_pattern_mismatch": N_("This value has the wrong format."),
    "int_type": N_("Enter a whole number."),
    "int_parsing": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_type": N_("Enter a number."),
    "float_parsing": N_("Enter a number."),
    "bool_type": N_("Enter true or false."),
    "bool_parsing": N_("Enter true or false."),
    "greater_than": N_("Enter a value above {gt}."),
    "greater_than_equal": N_("Enter a value of at least {ge}."),
    "less_than": N_("Enter a value below {lt}."),
    "less_than_equal": N_("Enter a value of at most {le}."),
    "literal_error": N_("Choose one of: {expected}."),
    "enum": N_("Choose one of: {expected}."),
    "list_type": N_("Enter a list."),
    "too_short": N_("Give at least {min_length} items."),
    "too_long": N_("Give at most {max_length} items."),
    "model_type": N_("Send a JSON object."),
    "model_attributes_type": N_("Send a JSON object."),
    "dict_type": N_("Send a JSON object."),
    "datetime_type": N_("Enter a date and time (ISO 8601)."),
    "datetime_parsing": N_("Enter a date and time (ISO 8601)."),
    "datetime_from_date_parsing": N_("Enter a date and time (ISO 8601)."),
    "date_parsing": N_("Enter a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Enter a date (YYYY-MM-DD)."),
    "json_invalid": N_("The body is not valid JSON."),
    "json_type": N_("The body is not valid JSON."),
    "value_error": N_("This value is not valid."),
    "control_characters": N_("Control characters are not allowed."),
    "uuid_parsing": N_("Enter a valid identifier."),
}
_FALLBACK = N_("This value is not valid.")
_LOCATION_PREFIXES = ("body", "query", "path", "header", "cookie")


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/epcis", "/healthz")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_message(error: dict[str, Any]) -> Message:
    kind = str(error.get("type", ""))
    context = {k: _display(v) for k, v in (error.get("ctx") or {}).items()}
    msgid = _VALIDATION_MESSAGES.get(kind, _FALLBACK)
    try:
        Message(msgid, context).render()
    except (KeyError, IndexError, ValueError):
        return Message(_FALLBACK)
    return Message(msgid, context)


def _display(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def translate_validation(errors: Sequence[Any]) -> DomainError:
    if any(e.get("type") in ("json_invalid", "json_type") for e in errors):
        return BadRequest(N_("The body is not valid JSON."), code="malformed_json")
    fields: dict[str, str | Message] = {}
    for error in errors:
        name = _field_name(error.get("loc", ()))
        fields.setdefault(name, _validation_message(error))
    return ValidationFailed(N_("Some fields need attention."), fields=fields)


def _status_error(exc: StarletteHTTPException) -> DomainError:
    if exc.status_code == 404:
        return NotFound(N_("There is nothing at this address."))
    if exc.status_code == 405:
        return BadRequest(
            N_("This address does not accept that method."), code="method_not_allowed", status=405
        )
    if exc.status_code == 401:
        return Unauthenticated(N_("Please log in first."))
    if exc.status_code == 403:
        return Forbidden(N_("You do not have permission to do this."))
    return BadRequest(
        N_("The request could not be handled."), code="http_error", status=exc.status_code
    )


def error_response(request: Request, error: DomainError) -> Response:
    if wants_json(request):
        return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
    from linli.web import render  # the page renderer imports from here

    response = render(
        request,
        "errors/error.html",
        {
            "status": error.status_code,
            "message": error.message.render(),
            "fields": {k: v.render() for k, v in error.fields.items()},
        },
        status_code=error.status_code,
    )
    response.headers.update(error.headers)
    return response


def unexpected_error(request: Request) -> Response:
    """The 500 answer to an error nobody expected (logged with its traceback: call it from
    the `except` block that caught it)."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    error = BadRequest(
        N_("Something went wrong on our side. It has been logged; please try again."),
        code="internal_error",
        status=500,
    )
    try:
        return error_response(request, error)
    except Exception:
        return JSONResponse(error.body(), status_code=500)


def install(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return error_response(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, translate_validation(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, _status_error(exc))

    async def unexpected(request: Request, exc: Exception) -> Response:
        return unexpected_error(request)

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(BaseModel):
    """Every JSON error has this shape; `message` is in the requested language."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
