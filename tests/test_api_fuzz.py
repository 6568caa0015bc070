"""Property-based fuzzing of the whole JSON API, from its own OpenAPI document, over real HTTP.

Schemathesis generates valid and invalid requests for every operation of the served
/openapi.json and sends them to a running instance, once as a platform admin (a bearer token
made with the `linli` command line) and once anonymously. Whatever it sends, the server must
never answer with a 5xx (`not_a_server_error`); nothing else is asserted.

Why Hypothesis drives the operations here rather than `schemathesis.pytest.from_fixture(...)`:
schemathesis 4.32's lazy-schema plugin renames test items through `Node._nodeid`, which
pytest 9.2 no longer has (AttributeError on every run). So the operations are listed at
collection time from the application's own OpenAPI document, each becomes a pytest item, and
each item fuzzes that operation of the schema loaded lazily from the live server.

The fuzzer gets a served instance of its own rather than the shared `live_server`: it fails
logins from 127.0.0.1 by the dozen, which trips the per-IP login throttle for 15 minutes, and it
leaves thousands of random rows behind; neither may leak into the browser journeys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from linli.app import create_app
from linli.config import Settings
from tests.live import LiveServer, serve_live

ADMIN_PHONE = "13800000001"
ADMIN_PASSWORD = "Fuzz-Admin-2026!"
TOKEN_REVOKE = "DELETE /api/v1/accounts/tokens/{token_id}"
REQUEST_TIMEOUT = 15.0
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

FUZZ_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

pytestmark = pytest.mark.slow


def documented_operations() -> list[str]:
    """'METHOD /path' for every operation in the application's OpenAPI document."""
    app = create_app(
        Settings(
            database_url="sqlite+aiosqlite://",
            secret_key="collection-only",
            run_dispatcher=False,
        )
    )
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return sorted(
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method in item
        if method in HTTP_METHODS
    )


OPERATIONS = documented_operations()


@dataclass(frozen=True)
class Admin:
    token: str
    token_id: int
    spare_token_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("fuzz"), "fuzz") as server:
        yield server


@pytest.fixture(autouse=True)
def server_log_on_failure(
    fuzz_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[None]:
    """A failing operation's report shows what the server logged meanwhile (tracebacks)."""
    failed_before = request.session.testsfailed
    log_start = fuzz_server.log_size()
    yield
    if request.session.testsfailed > failed_before:
        print(f"--- {fuzz_server.log_path} during this test ---")
        print(fuzz_server.log_since(log_start))


@pytest.fixture(scope="module")
def admin(fuzz_server: LiveServer) -> Admin:
    """A platform admin's bearer token (all scopes), plus a spare token to revoke instead."""
    token = fuzz_server.seed_platform_admin(phone=ADMIN_PHONE, password=ADMIN_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=fuzz_server.url, headers=headers, timeout=REQUEST_TIMEOUT) as api:
        me = api.get("/api/v1/accounts/me")
        assert me.status_code == 200, me.text
        assert me.json()["active_organisation"]["roles"] == ["admin"], me.text
        tokens = api.get("/api/v1/accounts/tokens")
        assert tokens.status_code == 200, tokens.text
        (own,) = [t for t in tokens.json() if t["hint"] == token[-4:]]
        spare = api.post("/api/v1/accounts/tokens", json={"name": "spare", "scopes": ["account"]})
        assert spare.status_code == 201, spare.text
    return Admin(token=token, token_id=own["id"], spare_token_id=spare.json()["id"])


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> BaseSchema:
    # An explicit config, so that no schemathesis.toml found on the way up changes the run.
    config = SchemathesisConfig.from_dict({"seed": 20261126})
    return schemathesis.openapi.from_url(
        f"{fuzz_server.url}/openapi.json", config=config, timeout=REQUEST_TIMEOUT
    )


def operation_of(schema: BaseSchema, label: str) -> APIOperation[Any, Any, Any, Any]:
    method, path = label.split(" ", 1)
    return schema[path][method]


def fuzz(operation: APIOperation[Any, Any, Any, Any], send: Callable[[Case[Any]], None]) -> None:
    """Up to 30 valid and invalid requests for `operation`, shrunk to the simplest failure."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @FUZZ_SETTINGS
    @given(case=cases)
    def run(case: Case[Any]) -> None:
        send(case)

    run()


def test_the_served_schema_has_the_operations_fuzzed_here(api_schema: BaseSchema) -> None:
    served = sorted(r.ok().label for r in api_schema.get_all_operations() if isinstance(r, Ok))
    assert served == OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_platform_admin_requests_never_fail_on_the_server(
    label: str, api_schema: BaseSchema, fuzz_server: LiveServer, admin: Admin
) -> None:
    def send(case: Case[Any]) -> None:
        if label == TOKEN_REVOKE and str((case.path_parameters or {}).get("token_id")) == str(
            admin.token_id
        ):
            # Revoking the fuzzer's own token would blind the rest of the run.
            case.path_parameters = {
                **(case.path_parameters or {}),
                "token_id": admin.spare_token_id,
            }
        case.call_and_validate(
            base_url=fuzz_server.url,
            headers=admin.headers,
            checks=[not_a_server_error],
            timeout=REQUEST_TIMEOUT,
        )

    fuzz(operation_of(api_schema, label), send)


@pytest.mark.parametrize("label", OPERATIONS)
def test_anonymous_requests_never_fail_on_the_server(
    label: str, api_schema: BaseSchema, fuzz_server: LiveServer
) -> None:
    def send(case: Case[Any]) -> None:
        case.call_and_validate(
            base_url=fuzz_server.url, checks=[not_a_server_error], timeout=REQUEST_TIMEOUT
        )

    fuzz(operation_of(api_schema, label), send)
