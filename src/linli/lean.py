"""Lean routes: the hottest API endpoints (a flash sale's order and payment notification)
served without FastAPI's routing, dependency solving and response validation.

A lean route is an `async def handler(call: LeanCall) -> LeanAnswer` registered for one
method and exact path with `@lean_route`; the FastAPI route of the same path stays (the
OpenAPI document, the authorisation matrix) and must behave the same: the lean handler
states the same access dependency (`call.actor(Resident)` runs the route's own
`require_scope(...)` function), validates the same headers and body (from the raw bytes:
`call.body(Model)`, `call.header(name, adapter)`), runs the same service function in the same
transaction (`db.request_transaction`) and answers with the same JSON (the response model,
encoded once by pydantic instead of validated again and re-encoded). Refusals are rendered by
the application's own error responses, so bodies and statuses agree; a differential test
sends the same requests to both (tests/test_lean.py).

`LeanRoutes` is the innermost middleware: every other middleware (locale, body limit, security
and caching headers, CSRF cookie, compression) wraps a lean answer as it wraps a routed one.
What is skipped is the walk through some 640 routes, the dependency graph, and the thread
pool: about a tenth of a sale's server CPU (bench/README.md). `LINLI_LEAN_ROUTES=false` serves
every request through FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from linli.authz import Actor, current_actor, require_user
from linli.db import request_transaction
from linli.error_handlers import error_response, translate_validation, unexpected_error
from linli.errors import DomainError

ModelT = TypeVar("ModelT", bound=BaseModel)
ValueT = TypeVar("ValueT")

_JSON = (b"content-type", b"application/json")


class _Invalid(Exception):
    """Inputs refused as FastAPI refuses them (its `RequestValidationError`'s errors)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors


@dataclass(frozen=True)
class LeanAnswer:
    status: int
    body: bytes


class LeanCall:
    """One request to a lean route: its session (opened on first use, committed after the
    handler), its actor and its validated inputs."""

    def __init__(self, request: Request, stack: AsyncExitStack) -> None:
        self.request = request
        self._stack = stack
        self._session: AsyncSession | None = None

    async def session(self) -> AsyncSession:
        if self._session is None:
            self._session = await self._stack.enter_async_context(request_transaction(self.request))
        return self._session

    async def actor(self, access: Callable[[Actor], Awaitable[Actor]]) -> Actor:
        """The request's actor, passed through the chain the route's own access dependency
        (a `require(...)` / `require_scope(...)` function) has in FastAPI: `require_user`
        first (401), then the dependency itself (403); before any input is validated, as
        FastAPI solves dependencies before it reads the body."""
        actor = await current_actor(self.request, await self.session())
        return await access(await require_user(actor))

    def header(self, name: str, adapter: TypeAdapter[ValueT]) -> ValueT:
        """A required header validated as FastAPI validates `Header(alias=name, ...)`."""
        value = self.request.headers.get(name)
        location = ("header", name)
        if value is None:
            raise _Invalid([{"type": "missing", "loc": location, "msg": "Field required"}])
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise _Invalid([{**e, "loc": location} for e in exc.errors()]) from None

    async def body(self, model: type[ModelT]) -> ModelT:
        """The JSON body, validated from its bytes."""
        raw = await self.request.body()
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            raise _Invalid(errors) from None

    @staticmethod
    def json(status: int, model: BaseModel) -> LeanAnswer:
        return LeanAnswer(status, model.model_dump_json(by_alias=True).encode())


LeanHandler = Callable[[LeanCall], Awaitable[LeanAnswer]]
ROUTES: dict[tuple[str, str], LeanHandler] = {}


def lean_route(method: str, path: str) -> Callable[[LeanHandler], LeanHandler]:
    """Register `handler` as the lean form of the FastAPI route `method path`."""

    def register(handler: LeanHandler) -> LeanHandler:
        key = (method.upper(), path)
        assert key not in ROUTES, f"two lean routes for {key}"
        ROUTES[key] = handler
        return handler

    return register


class LeanRoutes:
    """Innermost middleware: a request whose method and path have a lean route is answered
    by it; everything else goes on to FastAPI."""

    def __init__(self, app: ASGIApp, *, routes: dict[tuple[str, str], LeanHandler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            async with AsyncExitStack() as stack:
                answer = await handler(LeanCall(request, stack))
        except DomainError as exc:
            await error_response(request, exc)(scope, receive, send)
            return
        except _Invalid as exc:
            await error_response(request, translate_validation(exc.errors))(scope, receive, send)
            return
        except Exception:
            await unexpected_error(request)(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [_JSON, (b"content-length", str(len(answer.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
