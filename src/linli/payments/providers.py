"""Payment providers: the interface a gateway implements, and the sandbox provider.

A provider takes the payer's money (`request_payment`), tells us the outcome by a signed
notification to our callback (`parse_notification` checks the signature and reads it, as for
WeChat Pay or Alipay notify), and gives money back (`refund`). A real gateway is added by
implementing `PaymentProvider` and `register()`-ing it; nothing else in the domain changes.

The sandbox stands in for a gateway in the demo and the tests. Paying schedules a durable job
that POSTs a notification, signed with HMAC-SHA256 under `Settings.payment_sandbox_secret`, to
`Settings.public_base_url` + the callback path by real HTTP, and retries with backoff until
the app acknowledges it (as WeChat Pay's notify does). Refunds complete at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.config import Settings
from linli.jobs import SandboxNotify
from linli.payments.models import PaymentIntent, PaymentRefund
from linli.payments.views import IntentView

log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/v1/payments/callbacks/sandbox"
SANDBOX = "sandbox"
SANDBOX_NOTIFY_JOB = SandboxNotify.job_kind
SANDBOX_MAX_DELIVERIES = 15  # about nine hours of retries with the capped backoff
TIMESTAMP_HEADER = "Linli-Sandbox-Timestamp"
NONCE_HEADER = "Linli-Sandbox-Nonce"
SIGNATURE_HEADER = "Linli-Sandbox-Signature"
ACKNOWLEDGEMENT: dict[str, str] = {"code": "SUCCESS", "message": "OK"}


class BadSignature(Exception):
    """The notification is not signed by the provider (missing, malformed or wrong)."""


class MalformedNotification(Exception):
    """Correctly signed, but not a notification we can read."""


@dataclass(frozen=True)
class Notification:
    """What a provider told us, once its signature has been checked."""

    notification_id: str
    intent_public_id: str
    provider_txn_id: str
    amount_fen: int
    succeeded: bool


@dataclass(frozen=True)
class RefundResult:
    status: Literal["succeeded", "pending", "failed"]
    provider_refund_id: str | None = None
    message: str | None = None


class PaymentProvider(Protocol):
    name: str

    def checkout_url(self, intent: IntentView) -> str:
        """Where the payer goes to pay (a page, or a gateway's hosted checkout)."""
        ...

    async def request_payment(
        self, session: AsyncSession, intent: PaymentIntent, settings: Settings
    ) -> None:
        """Start taking the payer's money; the outcome arrives later as a notification."""
        ...

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, settings: Settings
    ) -> Notification:
        """Check the signature and read the notification: `BadSignature`,
        `MalformedNotification` otherwise. Must not touch the database."""
        ...

    def acknowledgement(self) -> dict[str, Any]:
        """The body the provider expects when we accepted (or already had) a notification."""
        ...

    async def refund(self, intent: PaymentIntent, refund: PaymentRefund) -> RefundResult: ...

    async def close(self, intent: PaymentIntent) -> None:
        """The intent was cancelled or expired: the payer must no longer be able to pay."""
        ...


_registry: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> PaymentProvider:
    _registry[provider.name] = provider
    return provider


def get(name: str) -> PaymentProvider:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no payment provider named {name!r}") from None


# --- the sandbox --------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """HMAC-SHA256 over "timestamp\\nnonce\\nbody\\n" (the layout of WeChat Pay v3), hex."""
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_notification(
    secret: str,
    *,
    intent_public_id: str,
    amount_fen: int,
    provider_txn_id: str,
    notification_id: str | None = None,
    trade_state: str = "SUCCESS",
    at: datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a sandbox notification, signed with `secret`."""
    moment = at or clock.now()
    body = canonical_json(
        {
            "id": notification_id or str(uuid.uuid4()),
            "event_type": "TRANSACTION.SUCCESS"
            if trade_state == "SUCCESS"
            else "TRANSACTION.CLOSED",
            "create_time": moment.isoformat(),
            "resource": {
                "out_trade_no": intent_public_id,
                "transaction_id": provider_txn_id,
                "trade_state": trade_state,
                "amount_fen": amount_fen,
            },
        }
    )
    timestamp = str(int(moment.timestamp()))
    nonce = secrets.token_hex(16)
    headers = {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, timestamp, nonce, body),
        "Content-Type": "application/json",
    }
    return headers, body


class _Resource(BaseModel):
    model_config = ConfigDict(extra="ignore")
    out_trade_no: str = Field(min_length=1, max_length=64)
    transaction_id: str = Field(min_length=1, max_length=64)
    trade_state: str = Field(max_length=32)
    amount_fen: StrictInt = Field(ge=1, le=10**15)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    resource: _Resource


# Tests point the sandbox at the app in-process (httpx.ASGITransport); None: real HTTP.
transport: httpx.AsyncBaseTransport | None = None


class SandboxProvider:
    name = SANDBOX

    def checkout_url(self, intent: IntentView) -> str:
        return f"/pay/{intent.public_id}"

    async def request_payment(
        self, session: AsyncSession, intent: PaymentIntent, settings: Settings
    ) -> None:
        headers, body = signed_notification(
            settings.payment_sandbox_secret.get_secret_value(),
            intent_public_id=intent.public_id,
            amount_fen=intent.amount_fen,
            provider_txn_id=f"sbx{uuid.uuid4().hex}",
        )
        await outbox.schedule(
            session,
            SandboxNotify(
                url=settings.public_base_url.rstrip("/") + CALLBACK_PATH,
                headers=headers,
                body=body.decode(),
            ),
            clock.now(),
            dedupe_key=f"{SANDBOX_NOTIFY_JOB}:{intent.public_id}",
        )

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, settings: Settings
    ) -> Notification:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not (timestamp and nonce and given) or len(given) != 64:
            raise BadSignature("missing or malformed signature headers")
        expected = signature(
            settings.payment_sandbox_secret.get_secret_value(), timestamp, nonce, body
        )
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise BadSignature("signature does not match")
        try:
            parsed = _Body.model_validate_json(body)
        except ValidationError as exc:
            raise MalformedNotification(str(exc.errors()[:1])) from None
        resource = parsed.resource
        return Notification(
            notification_id=parsed.id,
            intent_public_id=resource.out_trade_no,
            provider_txn_id=resource.transaction_id,
            amount_fen=resource.amount_fen,
            succeeded=resource.trade_state == "SUCCESS",
        )

    def acknowledgement(self) -> dict[str, Any]:
        return dict(ACKNOWLEDGEMENT)

    async def refund(self, intent: PaymentIntent, refund: PaymentRefund) -> RefundResult:
        return RefundResult(status="succeeded", provider_refund_id=f"sbr{uuid.uuid4().hex}")

    async def close(self, intent: PaymentIntent) -> None:
        # Notifications already on their way are still delivered; the callback records a
        # payment for a closed intent as `intent_closed` for an operator to refund.
        return None


register(SandboxProvider())


# --- deferred providers (settled on credit, e.g. pick up first, pay later) ------------------

PAY_LATER = "pay_later"  # the deferred provider credit registers (docs/pay-later.md)


@dataclass(frozen=True)
class DeferredCharge:
    """What a deferred account is asked to take on: one intent, to be paid later."""

    intent_id: int
    public_id: str
    payer_user_id: int
    payee_organisation_id: int
    purpose: str
    reference: str
    amount_fen: int


class DeferredAccount(Protocol):
    async def charge(self, session: AsyncSession, charge: DeferredCharge) -> str:
        """Take the charge on the payer's account (raise a DomainError to refuse it, e.g.
        over the limit); returns the transaction id the intent keeps. Runs in the payment's
        transaction, so a refusal later in that transaction undoes the charge."""
        ...


class DeferredProvider:
    """A provider whose payments succeed at once against an account another domain keeps
    (`service.pay_deferred`); the money arrives later, when the account's bill is paid. It
    has no notifications, and a refund needs no money sent: the account's owner lowers what
    is owed when it reads `PaymentRefunded` (the ledger moves it out of `cash:{name}`)."""

    def __init__(self, name: str, account: DeferredAccount) -> None:
        self.name = name
        self.account = account

    def checkout_url(self, intent: IntentView) -> str:
        return f"/pay/{intent.public_id}"

    async def request_payment(
        self, session: AsyncSession, intent: PaymentIntent, settings: Settings
    ) -> None:
        raise RuntimeError("deferred payments are made with service.pay_deferred")

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, settings: Settings
    ) -> Notification:
        raise BadSignature(f"the {self.name} provider sends no notifications")

    def acknowledgement(self) -> dict[str, Any]:
        return {}

    async def refund(self, intent: PaymentIntent, refund: PaymentRefund) -> RefundResult:
        return RefundResult(status="succeeded", provider_refund_id=f"dfr{uuid.uuid4().hex}")

    async def close(self, intent: PaymentIntent) -> None:
        return None


def register_deferred(name: str, account: DeferredAccount) -> DeferredProvider:
    """Register a deferred provider named `name` backed by `account` (a higher domain's)."""
    provider = DeferredProvider(name, account)
    register(provider)
    return provider


def is_registered(name: str) -> bool:
    return name in _registry


async def deliver(job: SandboxNotify) -> bool:
    """POST one notification; True when the app acknowledged it (2xx with code SUCCESS)."""
    try:
        async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
            response = await client.post(job.url, content=job.body.encode(), headers=job.headers)
        acknowledged = response.is_success and response.json().get("code") == "SUCCESS"
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("sandbox notification to %s failed: %s", job.url, exc)
        return False
    if not acknowledged:
        log.warning("sandbox notification refused: %s %s", response.status_code, response.text)
    return acknowledged


@outbox.job(SandboxNotify)
async def sandbox_notify(session: AsyncSession, job: SandboxNotify) -> None:
    """Deliver a sandbox notification, and keep trying until the app acknowledges it.

    The next try is stored first (same dedupe key, due after the backoff) and committed
    *before* the HTTP request: the request is answered by this very app, whose callback
    needs to write, and on SQLite this job's open write transaction would block it. Once
    acknowledged, the next try is marked done in a fresh transaction. A crash in between
    leaves the retry pending, so delivery is at least once; the callback is idempotent.
    """
    delivery = job.delivery + 1
    successor = None
    if delivery < SANDBOX_MAX_DELIVERIES:
        successor = await outbox.schedule(
            session,
            job.model_copy(update={"delivery": delivery}),
            clock.now() + min(outbox.backoff(delivery), timedelta(hours=1)),
            dedupe_key=_dedupe_key(job),
        )
        await session.flush()
    await session.commit()
    if not await deliver(job) or successor is None:
        return
    async with AsyncSession(session.bind, expire_on_commit=False) as fresh, fresh.begin():
        await fresh.execute(
            update(outbox.DueJob)
            .where(outbox.DueJob.id == successor.id, outbox.DueJob.status == outbox.PENDING)
            .values(status=outbox.DONE, done_at=clock.now())
        )


def _dedupe_key(job: SandboxNotify) -> str:
    body = json.loads(job.body)
    return f"{SANDBOX_NOTIFY_JOB}:{body['resource']['out_trade_no']}"
