"""Domain errors carry their HTTP status and a message the user can act on, in their language."""

from __future__ import annotations

from typing import Any, ClassVar

from linli.i18n import Message


def as_message(value: str | Message) -> Message:
    return value if isinstance(value, Message) else Message(value)


class DomainError(Exception):
    status_code: int = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str | Message,
        *,
        code: str | None = None,
        fields: dict[str, str | Message] | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
        status: int | None = None,
        **params: Any,
    ) -> None:
        if status is not None:
            self.status_code = status
        self.message = Message(message, params) if isinstance(message, str) else message
        self.code = code or self.default_code
        self.fields = {name: as_message(text) for name, text in (fields or {}).items()}
        self.headers = headers or {}
        # True when the work done so far must still commit (a failed login is recorded
        # even though the request fails).
        self.keep_changes = keep_changes
        super().__init__(self.message.msgid)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message.render(),
                "fields": {name: text.render() for name, text in self.fields.items()},
            }
        }


class BadRequest(DomainError):
    status_code = 400
    default_code = "bad_request"


class Unauthenticated(DomainError):
    status_code = 401
    default_code = "unauthenticated"


class Forbidden(DomainError):
    status_code = 403
    default_code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    default_code = "payload_too_large"


class NotAcceptable(DomainError):
    status_code = 406
    default_code = "not_acceptable"


class UnsupportedMediaType(DomainError):
    status_code = 415
    default_code = "unsupported_media_type"


class ValidationFailed(DomainError):
    status_code = 422
    default_code = "validation_failed"


class TooManyRequests(DomainError):
    status_code = 429
    default_code = "too_many_requests"
