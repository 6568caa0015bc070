"""Payments: intents, provider callbacks, refunds, and what operators and merchants may read.

For other domains (an order service):

- `create_intent(...)` with the resident as actor: idempotent per (payer, idempotency key),
  also under concurrency (INSERT ... ON CONFLICT DO NOTHING, then read the winner).
- Subscribe to `PaymentSucceeded` / `PaymentRefunded`, filtered on your own `purpose`.
- `refund(...)` with `Actor.for_system()` (a failed group) or a merchant/operator actor.
- `cancel_intent(...)`, `intents_for(purpose, reference)`, `access_intent(...)`.
- Who may see, pay, cancel and refund which intents: `payments.policies`.
- `ledger.settle(...)` books the split of a fulfilled order.

Every state change of an intent is one conditional UPDATE (`WHERE status = 'created'`,
`WHERE refunded_fen + :amount <= amount_fen`), so concurrent callbacks apply once and
concurrent refunds never exceed the amount.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    BigInteger,
    ColumnElement,
    FromClause,
    String,
    bindparam,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from linli import clock, outbox, ratelimit
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import (
    PAYMENTS_READ,
    PLATFORM_AUDIT_READ,
    Actor,
    acting_organisation,
    ensure,
)
from linli.config import Settings
from linli.db import UTCDateTime
from linli.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from linli.events import PaymentRefunded, PaymentSucceeded
from linli.group_commit import ALONE, GroupCommit
from linli.i18n import N_, gettext
from linli.jobs import ExpireIntent
from linli.money import format_fen
from linli.payments import ledger, policies, providers
from linli.payments.models import (
    CANCELLED,
    CREATED,
    EXPIRED,
    REFUND_FAILED,
    REFUND_PENDING,
    REFUND_SUCCEEDED,
    SUCCEEDED,
    PaymentCallback,
    PaymentIntent,
    PaymentRefund,
)
from linli.payments.reasons import RefundReason
from linli.payments.views import IntentView

log = logging.getLogger(__name__)

EXPIRE_JOB = ExpireIntent.job_kind
DEFAULT_EXPIRY = timedelta(hours=2)
MAX_AMOUNT_FEN = 10**10  # ¥100,000,000: far beyond any neighbourhood order
PAYEE_KINDS = ("merchant",)
PURPOSE = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
DIRECT = "direct"  # the purpose of intents residents create through the API themselves
# purpose -> where its refunds are made ("{reference}" stands for the intent's reference).
# An intent of any purpose but DIRECT belongs to the domain that created it: only that domain
# (acting as the system) refunds it, so that its own records (goods, settlement, commission)
# follow. Domains name their route here with `register_refund_route`.
_REFUND_ROUTES: dict[str, str] = {}
_NO_CREDIT: set[str] = set()  # purposes never paid on credit (forbid_credit)
MAX_STORED_BODY = 4000
UNSIGNED_COUNTER = "payments.unsigned_callbacks"
UNSIGNED_WINDOW = timedelta(hours=1)

# What became of a callback (payment_callbacks.outcome).
# PostgreSQL applies a successful notification in one statement; False applies it in steps
# there too (the reference, as on SQLite).
ONE_STATEMENT = True
# Off: every notification applied on its own (tests that pin the single path turn it off).
GROUP_COMMIT = True

APPLIED = "applied"
REPLAY = "replay"  # the same notification again: acknowledged, not applied again
DUPLICATE = "duplicate"  # another notification of the same transaction: acknowledged
CONFLICTING = "conflicting_transaction"  # a second transaction for a paid intent
INTENT_CLOSED = "intent_closed"  # paid after cancellation or expiry
NOT_SUCCESS = "not_success"  # a notification of a failed/closed trade
MALFORMED = "malformed"
UNKNOWN_INTENT = "unknown_intent"
AMOUNT_MISMATCH = "amount_mismatch"


STATUS_LABELS: dict[str, str] = {
    CREATED: N_("awaiting payment"),
    SUCCEEDED: N_("paid"),
    CANCELLED: N_("cancelled"),
    EXPIRED: N_("expired"),
}
REFUND_LABELS: dict[str, str] = {
    REFUND_PENDING: N_("refund pending"),
    REFUND_SUCCEEDED: N_("refunded"),
    REFUND_FAILED: N_("refund failed"),
}


def status_label(status: str) -> str:
    """The intent's status in the reader's language."""
    return gettext(STATUS_LABELS.get(status, status))


def forbid_credit(purpose: str) -> None:
    """Intents of `purpose` may never be paid on credit (a deferred provider: pay later), for
    example prepaid training fees (no training loans, RULES.md "Online services")."""
    _NO_CREDIT.add(purpose)


def register_refund_route(purpose: str, route: str) -> None:
    """Tell the payments API where refunds of `purpose` intents are made (shown on refusal)."""
    _REFUND_ROUTES[purpose] = route


def _refund_elsewhere(intent: PaymentIntent) -> Conflict:
    route = _REFUND_ROUTES.get(intent.purpose)
    if route is None:
        return Conflict(
            N_("This payment belongs to {purpose}; refund it where it was made, not here."),
            code="refund_through_owner",
            purpose=intent.purpose,
        )
    return Conflict(
        N_("This payment belongs to {purpose}; refund it through {route}."),
        code="refund_through_owner",
        purpose=intent.purpose,
        route=route.format(reference=intent.reference),
    )


def payment_not_found() -> NotFound:
    return NotFound(N_("There is no such payment."), code="payment_not_found")


# --- intents ------------------------------------------------------------------------------


def _check_intent_input(
    purpose: str, reference: str, amount_fen: int, idempotency_key: str
) -> None:
    fields: dict[str, str] = {}
    if not PURPOSE.match(purpose):
        fields["purpose"] = N_("Use lowercase letters, digits, '_' and '.' (at most 40).")
    if not 1 <= len(reference) <= 80 or not reference.isprintable():
        fields["reference"] = N_("Enter 1 to 80 printable characters.")
    if isinstance(amount_fen, bool) or not 1 <= amount_fen <= MAX_AMOUNT_FEN:
        fields["amount_fen"] = N_("Enter an amount between 1 fen and ¥100,000,000.")
    if not 1 <= len(idempotency_key) <= 80 or not idempotency_key.isprintable():
        fields["idempotency_key"] = N_("Enter 1 to 80 printable characters.")
    if fields:
        raise ValidationFailed(N_("Check the payment details."), fields=dict(fields))


def _payee_refused() -> ValidationFailed:
    return ValidationFailed(
        N_("Payments can only be made to a merchant."),
        fields={"payee_organisation_id": N_("No such merchant.")},
    )


@dataclass(frozen=True)
class IntentInsert:
    """`create_intent` as parts of one statement (`insert_intent_from`): `intent` the
    data-modifying CTE inserting it (RETURNING the intent's columns), `job` the CTE storing its
    expiry job, `entity` what to select to receive the intent as the service returns it."""

    intent: CTE
    job: CTE
    entity: Any

    def check(self, inserted: IntentView | None) -> IntentView:
        """The inserted intent, or the refusal `create_intent` gives when there is none (its
        payee is not a merchant, nor the platform for a domain's own intent)."""
        if inserted is None:
            raise _payee_refused()
        return inserted


def insert_intent_from(
    source: FromClause,
    *,
    payer_user_id: ColumnElement[int],
    payee_organisation_id: ColumnElement[int],
    purpose: str,
    reference: ColumnElement[str],
    amount_fen: ColumnElement[int],
    idempotency_key: ColumnElement[str],
    expires_at: ColumnElement[datetime],
    provider: str = providers.SANDBOX,
) -> IntentInsert:
    """`create_intent` for a domain that does its whole unit of work in one statement with
    data-modifying CTEs (PostgreSQL): one intent per row of `source` (a CTE of that statement;
    the values are expressions over its columns or bound parameters: the statement may be
    built once, the intent's public id and time are evaluated at each execution), inserted
    only when the payee may be paid, and its expiry job. The key must be new (a key of the
    caller's new row, so no conflict: a conflict fails the statement). What `create_intent`
    checks in Python is checked here (purpose, provider, credit), the amount is the caller's
    to keep in range (1 fen to MAX_AMOUNT_FEN; the table refuses 0). One row: its public id
    is one parameter per execution (`insert_intents_from` for many)."""
    public_id = bindparam(
        "payment_intent_public_id", callable_=lambda: str(uuid.uuid4()), type_=String
    )
    return _insert_intents(
        source,
        public_id,
        payer_user_id=payer_user_id,
        payee_organisation_id=payee_organisation_id,
        purpose=purpose,
        reference=reference,
        amount_fen=amount_fen,
        idempotency_key=idempotency_key,
        expires_at=expires_at,
        provider=provider,
    )


def insert_intents_from(
    source: FromClause,
    *,
    payer_user_id: ColumnElement[int],
    payee_organisation_id: ColumnElement[int],
    purpose: str,
    reference: ColumnElement[str],
    amount_fen: ColumnElement[int],
    idempotency_key: ColumnElement[str],
    expires_at: ColumnElement[datetime],
    provider: str = providers.SANDBOX,
) -> IntentInsert:
    """`insert_intent_from` for a statement that places many orders at once (a group
    commit): one intent per row of `source`, each with its own public id (a version 4 UUID
    drawn by PostgreSQL, `gen_random_uuid()`, in the form `str(uuid.uuid4())` gives), and
    each intent's expiry job. The keys must be new, as there."""
    return _insert_intents(
        source,
        cast(func.gen_random_uuid(), String),
        payer_user_id=payer_user_id,
        payee_organisation_id=payee_organisation_id,
        purpose=purpose,
        reference=reference,
        amount_fen=amount_fen,
        idempotency_key=idempotency_key,
        expires_at=expires_at,
        provider=provider,
    )


def _insert_intents(
    source: FromClause,
    public_id: ColumnElement[str],
    *,
    payer_user_id: ColumnElement[int],
    payee_organisation_id: ColumnElement[int],
    purpose: str,
    reference: ColumnElement[str],
    amount_fen: ColumnElement[int],
    idempotency_key: ColumnElement[str],
    expires_at: ColumnElement[datetime],
    provider: str,
) -> IntentInsert:
    if not PURPOSE.match(purpose) or purpose == DIRECT:
        raise ValueError(f"not a domain's purpose: {purpose!r}")
    if isinstance(providers.get(provider), providers.DeferredProvider):
        raise ValueError("a deferred provider pays at once: use create_intent and pay_deferred")
    allowed = (*PAYEE_KINDS, "platform")
    payee_kind = (
        select(Organisation.kind).where(Organisation.id == payee_organisation_id).scalar_subquery()
    )
    rows = (
        select(
            public_id.label("public_id"),
            payer_user_id.label("payer_user_id"),
            payee_organisation_id.label("payee_organisation_id"),
            literal(purpose).label("purpose"),
            reference.label("reference"),
            amount_fen.label("amount_fen"),
            literal(0).label("refunded_fen"),
            literal(CREATED).label("status"),
            literal(provider).label("provider"),
            idempotency_key.label("idempotency_key"),
            bindparam("payment_intent_now", callable_=lambda: clock.now(), type_=UTCDateTime).label(
                "created_at"
            ),
            expires_at.label("expires_at"),
        )
        .select_from(source)
        .where(payee_kind.in_(allowed))
    )
    intent = (
        pg_insert(PaymentIntent)
        .from_select([column.name for column in rows.selected_columns], rows)
        .returning(*PaymentIntent.__table__.c)
        .cte("payment_intent")
    )
    job = outbox.schedule_from(
        ExpireIntent,
        intent,
        {"intent_id": intent.c.id},
        intent.c.expires_at,
        name="payment_intent_expiry",
    )
    return IntentInsert(intent=intent, job=job, entity=aliased(PaymentIntent, intent))


async def create_intent(
    session: AsyncSession,
    actor: Actor,
    *,
    payee_organisation_id: int,
    purpose: str,
    reference: str,
    amount_fen: int,
    idempotency_key: str,
    provider: str = providers.SANDBOX,
    expires_in: timedelta = DEFAULT_EXPIRY,
) -> PaymentIntent:
    """The acting resident will pay `amount_fen` to a merchant. The same idempotency key
    returns the same intent (409 if it was used for a different payment). 3 statements."""
    payer_id = actor.require_user_id()
    _check_intent_input(purpose, reference, amount_fen, idempotency_key)
    if purpose in _NO_CREDIT and isinstance(providers.get(provider), providers.DeferredProvider):
        raise Conflict(
            N_("This may not be paid on credit."),
            fields={"provider": N_("Pay now instead.")},
            code="credit_not_allowed",
        )
    providers.get(provider)
    kind = await session.scalar(
        select(Organisation.kind).where(Organisation.id == payee_organisation_id)
    )
    # Only a domain's own intents (not `direct` ones residents create) may be paid to the
    # platform itself: the repayment of a pay-later bill.
    allowed = PAYEE_KINDS if purpose == DIRECT else (*PAYEE_KINDS, "platform")
    if kind not in allowed:
        raise _payee_refused()
    now = clock.now()
    values = {
        "public_id": str(uuid.uuid4()),
        "payer_user_id": payer_id,
        "payee_organisation_id": payee_organisation_id,
        "purpose": purpose,
        "reference": reference,
        "amount_fen": amount_fen,
        "refunded_fen": 0,
        "status": CREATED,
        "provider": provider,
        "idempotency_key": idempotency_key,
        "created_at": now,
        "expires_at": now + expires_in,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(PaymentIntent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["payer_user_id", "idempotency_key"])
        .returning(PaymentIntent)
    )
    intent = (await session.scalars(statement)).one_or_none()
    if intent is None:  # the key was used before (or by a concurrent request that won)
        existing = await session.scalar(
            select(PaymentIntent).where(
                PaymentIntent.payer_user_id == payer_id,
                PaymentIntent.idempotency_key == idempotency_key,
            )
        )
        assert existing is not None
        same = (
            existing.payee_organisation_id,
            existing.purpose,
            existing.reference,
            existing.amount_fen,
        ) == (payee_organisation_id, purpose, reference, amount_fen)
        if not same:
            raise Conflict(
                N_("This idempotency key was already used for a different payment."),
                code="idempotency_key_reused",
                fields={"idempotency_key": N_("Use a new key for a new payment.")},
            )
        return existing
    await outbox.schedule(session, ExpireIntent(intent_id=intent.id), intent.expires_at)
    return intent


async def access_intent(
    session: AsyncSession, actor: Actor, public_id: str, *, for_update: bool = False
) -> PaymentIntent:
    """An intent the actor may see (its payer, the payee's staff, auditors), else 404."""
    query = policies.readable_intents(actor).where(PaymentIntent.public_id == public_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    intent = await session.scalar(query)
    if intent is None:
        raise payment_not_found()
    return intent


async def access_own_intent(session: AsyncSession, actor: Actor, public_id: str) -> PaymentIntent:
    """An intent the acting user pays, else 404 (the checkout page, paying)."""
    query = policies.own_intents(actor).where(PaymentIntent.public_id == public_id)
    intent = await session.scalar(query)
    if intent is None:
        raise payment_not_found()
    return intent


async def my_intents(
    session: AsyncSession, actor: Actor, *, limit: int = 50
) -> Sequence[PaymentIntent]:
    query = policies.own_intents(actor).order_by(PaymentIntent.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def intents_for(
    session: AsyncSession, actor: Actor, purpose: str, reference: str
) -> Sequence[PaymentIntent]:
    """Every intent another domain created for (purpose, reference), oldest first (system)."""
    if not actor.system:
        raise Forbidden(N_("You do not have permission to do this."))
    query = (
        select(PaymentIntent)
        .where(PaymentIntent.purpose == purpose, PaymentIntent.reference == reference)
        .order_by(PaymentIntent.id)
    )
    return (await session.scalars(query)).all()


async def latest_intents_for(
    session: AsyncSession, actor: Actor, purpose: str, references: Sequence[str]
) -> dict[str, PaymentIntent]:
    """reference -> its newest intent, for many references of one purpose at once (system)."""
    if not actor.system:
        raise Forbidden(N_("You do not have permission to do this."))
    if not references:
        return {}
    rows = await session.scalars(
        select(PaymentIntent)
        .where(PaymentIntent.purpose == purpose, PaymentIntent.reference.in_(references))
        .order_by(PaymentIntent.id)
    )
    return {intent.reference: intent for intent in rows}  # later (newer) ones win


async def refunds_of(session: AsyncSession, intent_id: int) -> Sequence[PaymentRefund]:
    query = select(PaymentRefund).where(PaymentRefund.intent_id == intent_id)
    return (await session.scalars(query.order_by(PaymentRefund.id))).all()


async def refundable_fen(session: AsyncSession, intent_id: int) -> int:
    """What can still be given back of an intent (0 for none, or no such intent)."""
    row = (
        await session.execute(
            select(PaymentIntent.amount_fen, PaymentIntent.refunded_fen).where(
                PaymentIntent.id == intent_id
            )
        )
    ).first()
    return max(0, row.amount_fen - row.refunded_fen) if row is not None else 0


async def refund_reasons_of(
    session: AsyncSession, intent_ids: Sequence[int]
) -> dict[int, list[RefundReason]]:
    """{intent id: the reasons of its refunds, each once, first refund first} in one
    statement (the caller has already checked the intents are the actor's)."""
    reasons: dict[int, list[RefundReason]] = {i: [] for i in intent_ids}
    if not intent_ids:
        return reasons
    rows = await session.execute(
        select(PaymentRefund.intent_id, PaymentRefund.reason_code)
        .where(PaymentRefund.intent_id.in_(intent_ids), PaymentRefund.status != REFUND_FAILED)
        .order_by(PaymentRefund.id)
    )
    for intent_id, code in rows.all():
        reason = RefundReason(code)
        if reason not in reasons[intent_id]:
            reasons[intent_id].append(reason)
    return reasons


async def _close(session: AsyncSession, intent_id: int, status: str) -> PaymentIntent | None:
    """created -> cancelled/expired in one conditional UPDATE; None if it was not open."""
    closed = await session.scalar(
        update(PaymentIntent)
        .where(PaymentIntent.id == intent_id, PaymentIntent.status == CREATED)
        .values(status=status, closed_at=clock.now())
        .returning(PaymentIntent)
        .execution_options(populate_existing=True)
    )
    if closed is not None:
        await providers.get(closed.provider).close(closed)
    return closed


async def cancel_intent(session: AsyncSession, actor: Actor, intent_id: int) -> PaymentIntent:
    """The payer (or the system, for another domain) gives up an unpaid intent."""
    intent = await session.scalar(
        policies.cancellable_intents(actor).where(PaymentIntent.id == intent_id)
    )
    if intent is None:
        raise payment_not_found()
    closed = await _close(session, intent_id, CANCELLED)
    if closed is None:
        await session.refresh(intent)
        raise Conflict(
            N_("Only an unpaid payment can be cancelled; this one is {state}."),
            code="not_cancellable",
            state=status_label(intent.status),
        )
    audit.record(
        session, actor, "payments.intent_cancelled", target_type="payment", target_id=intent.id
    )
    return closed


async def expire_intent(session: AsyncSession, intent_id: int) -> PaymentIntent | None:
    """Due job: an intent still unpaid at its expiry time is closed."""
    return await _close(session, intent_id, EXPIRED)


async def pay(
    session: AsyncSession, actor: Actor, public_id: str, settings: Settings
) -> PaymentIntent:
    """The payer asks the provider to take the money (the sandbox: its notification job)."""
    intent = await access_own_intent(session, actor, public_id)
    expired = intent.status == CREATED and clock.now() >= intent.expires_at
    if expired:
        await expire_intent(session, intent.id)
    if intent.status != CREATED or expired:
        raise Conflict(
            N_("This payment cannot be paid any more; it is {state}."),
            code="not_payable",
            state=status_label(EXPIRED if expired else intent.status),
            keep_changes=expired,  # the expiry stands even though this request fails
        )
    if isinstance(providers.get(intent.provider), providers.DeferredProvider):
        return await pay_deferred(session, actor, intent.id)
    await providers.get(intent.provider).request_payment(session, intent, settings)
    return intent


# --- provider callbacks -------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackResult:
    outcome: str
    acknowledgement: dict[str, object]


def _record(
    session: AsyncSession,
    provider: str,
    body: bytes,
    remote_addr: str | None,
    *,
    valid: bool,
    outcome: str,
    note: providers.Notification | None = None,
) -> None:
    session.add(
        PaymentCallback(
            **_callback_row(provider, body, remote_addr, valid=valid, outcome=outcome, note=note)
        )
    )


def _callback_row(
    provider: str,
    body: bytes,
    remote_addr: str | None,
    *,
    valid: bool,
    outcome: str,
    note: providers.Notification | None,
) -> dict[str, Any]:
    return {
        "provider": provider,
        "received_at": clock.now(),
        "remote_addr": (remote_addr or "")[:45] or None,
        "signature_valid": valid,
        "outcome": outcome,
        "notification_id": note.notification_id if note else None,
        "intent_public_id": note.intent_public_id if note else None,
        "provider_txn_id": note.provider_txn_id if note else None,
        "amount_fen": note.amount_fen if note else None,
        "body": body[:MAX_STORED_BODY].decode("utf-8", errors="replace"),
    }


async def unsigned_callbacks(session: AsyncSession, provider_name: str) -> int:
    """How many unsigned or forged notifications were posted for `provider_name` lately (the
    last day or so: counters are pruned a day after their hour)."""
    return await ratelimit.total(session, UNSIGNED_COUNTER, provider_name)


async def receive_callback(
    session: AsyncSession,
    provider_name: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
    remote_addr: str | None = None,
    batch_size: int = 1,
) -> CallbackResult:
    """Check and apply a provider notification. Every signed call leaves one
    `payment_callbacks` row; refusals raise with `keep_changes`, so the row is kept while
    nothing else changes. Unsigned or forged calls are only counted (`unsigned_callbacks`).

    The happy path is the conditional UPDATE of the intent, the ledger entry and its
    postings, the outbox event and the callback row: one statement on PostgreSQL
    (`_apply_many`), five on SQLite. With `batch_size` > 1 (a route's own request) a success
    on PostgreSQL joins the group commit of the provider's notifications in this process:
    its session's transaction is committed by the time this returns.
    """
    provider = providers.get(provider_name)
    try:
        note = provider.parse_notification(headers, body, settings)
    except providers.BadSignature:
        # Not stored: anyone can post here, and a row per forgery would let them fill the
        # database. Counted per provider and hour instead (`unsigned_callbacks`), and logged
        # once per hour.
        counted = await ratelimit.hit(
            session, UNSIGNED_COUNTER, provider_name, limit=0, window=UNSIGNED_WINDOW
        )
        if counted.first_over:
            log.warning(
                "unsigned %s payment notification from %s (further ones this hour are only "
                "counted)",
                provider_name,
                remote_addr,
            )
        raise Unauthenticated(
            N_("The notification is not signed by the payment provider."),
            code="bad_signature",
            keep_changes=True,
        ) from None
    except providers.MalformedNotification:
        _record(session, provider_name, body, remote_addr, valid=True, outcome=MALFORMED)
        raise BadRequest(
            N_("The notification could not be read."), code="malformed", keep_changes=True
        ) from None

    def done(outcome: str) -> CallbackResult:
        _record(session, provider_name, body, remote_addr, valid=True, outcome=outcome, note=note)
        return CallbackResult(outcome, provider.acknowledgement())

    if not note.succeeded:
        return done(NOT_SUCCESS)
    if ONE_STATEMENT and session.get_bind().dialect.name == "postgresql":
        received = _Received(provider_name, note, body, remote_addr)
        if await _apply(session, received, batch_size):
            return CallbackResult(APPLIED, provider.acknowledgement())
        # Nothing was written: no open intent of this provider has this id and amount (an
        # intent never becomes `created` again, so the steps' UPDATE would find none either).
        return await _not_applied(session, provider_name, note, done, body, remote_addr)
    paid = await _succeed(
        session,
        provider_name,
        note.provider_txn_id,
        PaymentIntent.public_id == note.intent_public_id,
        PaymentIntent.amount_fen == note.amount_fen,
    )
    if paid is not None:
        return done(APPLIED)
    return await _not_applied(session, provider_name, note, done, body, remote_addr)


_NOTE_FIELDS = {  # a notification's array in the statement -> the callback row's column
    "pid": "intent_public_id",
    "amount": "amount_fen",
    "txn": "provider_txn_id",
    "note_id": "notification_id",
    "addr": "remote_addr",
    "body": "body",
}
# Unbounded: a cast to VARCHAR(n) would cut a long value short where the insert refuses it.
_NOTE_TYPES: dict[str, Any] = {key: String() for key in _NOTE_FIELDS} | {"amount": BigInteger()}


@dataclass(frozen=True)
class _Applying:
    statement: Any
    postings: int  # per entry


_APPLY_STATEMENTS: dict[str, _Applying] = {}  # provider -> the statement, built once


def _apply_statement(provider_name: str) -> _Applying:
    """The statement of `_apply_many` for a provider, built once. Its values are bound
    parameters: `cb_now`, and one array per field of the notifications (`cb_` + the keys of
    `_NOTE_FIELDS`), unnested `WITH ORDINALITY` (n: 1, 2, ...)."""
    built = _APPLY_STATEMENTS.get(provider_name)
    if built is not None:
        return built
    columns = PaymentCallback.__table__.c
    now = bindparam("cb_now", type_=UTCDateTime)
    # Parameters never named like a column: SQLAlchemy would SET a column of the updated
    # intent from a parameter of its name.
    arrays = [
        cast(bindparam(f"cb_{key}", type_=ARRAY(type_)), ARRAY(type_))
        for key, type_ in _NOTE_TYPES.items()
    ]
    notes = (
        select(
            literal_column("a.n", BigInteger).label("n"),
            *(literal_column(f"a.{key}", type_).label(key) for key, type_ in _NOTE_TYPES.items()),
        )
        .select_from(
            func.unnest(*arrays)
            .table_valued(*_NOTE_TYPES, with_ordinality="n")
            .render_derived(name="a")
        )
        .cte("notes")
    )
    paid = (
        update(PaymentIntent)
        .where(
            PaymentIntent.public_id == notes.c.pid,
            PaymentIntent.amount_fen == notes.c.amount,
            PaymentIntent.provider == provider_name,
            PaymentIntent.status == CREATED,
        )
        .values(status=SUCCEEDED, provider_txn_id=notes.c.txn, succeeded_at=now)
        .returning(
            *PaymentIntent.__table__.c, notes.c.n, notes.c.note_id, notes.c.addr, notes.c.body
        )
        .cte("paid")
    )
    postings_of = ledger.payment_postings_from(
        provider_name, paid.c.payer_user_id, paid.c.amount_fen
    )
    _entry, postings = ledger.post_from(
        "payment", paid, paid.c.public_id, postings_of, name="payment"
    )
    event = outbox.publish_from(
        PaymentSucceeded,
        paid,
        {
            "intent_id": paid.c.id,
            "public_id": paid.c.public_id,
            "purpose": paid.c.purpose,
            "reference": paid.c.reference,
            "amount_fen": paid.c.amount_fen,
            "payer_user_id": paid.c.payer_user_id,
            "payee_organisation_id": paid.c.payee_organisation_id,
        },
        name="payment_succeeded",
    )
    row: dict[str, Any] = {
        "provider": literal(provider_name, columns["provider"].type),
        "received_at": now,
        "signature_valid": literal(True),
        "outcome": literal(APPLIED, columns["outcome"].type),
        "notification_id": paid.c.note_id,
        "intent_public_id": paid.c.public_id,
        "provider_txn_id": paid.c.provider_txn_id,
        "amount_fen": paid.c.amount_fen,
        "remote_addr": paid.c.addr,
        "body": paid.c.body,
    }
    recorded = (
        pg_insert(PaymentCallback)
        .from_select(list(row), select(*row.values()).select_from(paid))
        .returning(PaymentCallback.id)
        .cte("callback")
    )

    def count(cte: Any) -> Any:
        return select(func.count()).select_from(cte).scalar_subquery()

    applied = select(func.array_agg(paid.c.n)).scalar_subquery()
    statement = select(
        applied, count(paid), count(postings), count(event), count(recorded)
    ).add_cte(paid, postings, event, recorded)
    built = _APPLY_STATEMENTS[provider_name] = _Applying(statement, len(postings_of))
    return built


@dataclass(frozen=True)
class _Received:
    """A signed notification of a success, as the callback received it."""

    provider: str
    note: providers.Notification
    body: bytes
    remote_addr: str | None


async def _apply_many(session: AsyncSession, received: Sequence[_Received]) -> list[bool]:
    """Successful notifications of one provider (of different intents) applied as `_succeed`
    and `_record` apply each, in one statement with data-modifying CTEs (PostgreSQL): the
    conditional UPDATE of their intents, then, for each intent it matched, the ledger entry
    and its postings (`ledger.post_from`), the `PaymentSucceeded` row (`outbox.publish_from`)
    and the callback's row (`applied`). Whether each was applied; one that was not wrote
    nothing."""
    built = _apply_statement(received[0].provider)
    rows = [
        _callback_row(r.provider, r.body, r.remote_addr, valid=True, outcome=APPLIED, note=r.note)
        for r in received
    ]
    values: dict[str, Any] = {
        f"cb_{key}": [row[column] for row in rows] for key, column in _NOTE_FIELDS.items()
    }
    values["cb_now"] = rows[0]["received_at"]
    numbers, *counts = (await session.execute(built.statement, values)).one()
    applied = set(numbers or ())
    k = len(applied)
    assert counts == [k, k * built.postings, k, k], (counts, k)
    if applied:
        outbox.note_published(session)
    return [n in applied for n in range(1, len(received) + 1)]


class _Unmatched:
    """A batch's answer for a notification that matched no open intent (nothing written)."""


_UNMATCHED = _Unmatched()


def _joins(batch: Sequence[_Received], received: _Received) -> bool:
    """One notification per intent in a batch (its UPDATE changes an intent once); a second
    one of an intent starts the next batch, where it matches nothing and is answered alone (a
    replay, a duplicate or a conflicting transaction)."""
    return all(r.note.intent_public_id != received.note.intent_public_id for r in batch)


async def _apply_batch(session: AsyncSession, batch: Sequence[_Received]) -> list[Any]:
    """A group commit's batch: applied in one statement, committed once (if any was)."""
    applied = await _apply_many(session, batch)
    if any(applied):
        await session.commit()
    else:
        await session.rollback()
    return [APPLIED if done else _UNMATCHED for done in applied]


_CALLBACKS: GroupCommit[_Received] = GroupCommit(
    "payments' group commit",
    lambda session, batch: _apply_batch(session, batch),  # looked up at each batch (tests)
    _joins,
)


async def _apply(session: AsyncSession, received: _Received, batch_size: int) -> bool:
    """Whether the notification was applied (PostgreSQL): by a group commit of the provider's
    notifications waiting in this process (batch_size > 1; the session's transaction is then
    ended), or, if that batch failed or batch_size is 1, on its own in the session."""
    if batch_size > 1 and GROUP_COMMIT:
        answer = await _CALLBACKS.submit(session, received.provider, received, batch_size)
        if answer is not ALONE:
            return answer is APPLIED
    return (await _apply_many(session, [received]))[0]


async def _succeed(
    session: AsyncSession, provider_name: str, provider_txn_id: str, *where: Any
) -> PaymentIntent | None:
    """The one way an intent succeeds (a provider's callback, or a deferred payment): the
    conditional UPDATE from `created`, the ledger entry, `PaymentSucceeded`. None when no
    open intent of `provider_name` matched `where`."""
    paid = await session.scalar(
        update(PaymentIntent)
        .where(*where, PaymentIntent.provider == provider_name, PaymentIntent.status == CREATED)
        .values(status=SUCCEEDED, provider_txn_id=provider_txn_id, succeeded_at=clock.now())
        .returning(PaymentIntent)
        .execution_options(populate_existing=True)
    )
    if paid is None:
        return None
    await ledger.post(
        session,
        "payment",
        paid.public_id,
        ledger.payment_postings(provider_name, paid.payer_user_id, paid.amount_fen),
    )
    outbox.publish(
        session,
        PaymentSucceeded(
            intent_id=paid.id,
            public_id=paid.public_id,
            purpose=paid.purpose,
            reference=paid.reference,
            amount_fen=paid.amount_fen,
            payer_user_id=paid.payer_user_id,
            payee_organisation_id=paid.payee_organisation_id,
        ),
    )
    return paid


async def pay_deferred(session: AsyncSession, actor: Actor, intent_id: int) -> PaymentIntent:
    """The payer settles an open intent of a deferred provider (pay later): the provider's
    account takes the charge (or refuses it with its own 4xx), then the intent succeeds at
    once through the same path as a provider's callback (`_succeed`)."""
    intent = await session.scalar(
        policies.own_intents(actor)
        .where(PaymentIntent.id == intent_id)
        .execution_options(populate_existing=True)
    )
    if intent is None:
        raise payment_not_found()
    provider = providers.get(intent.provider)
    if not isinstance(provider, providers.DeferredProvider):
        raise Conflict(N_("This payment is not made on credit."), code="not_deferred")
    if intent.status != CREATED:
        raise Conflict(
            N_("This payment cannot be paid any more; it is {state}."),
            code="not_payable",
            state=status_label(intent.status),
        )
    txn = await provider.account.charge(
        session,
        providers.DeferredCharge(
            intent_id=intent.id,
            public_id=intent.public_id,
            payer_user_id=intent.payer_user_id,
            payee_organisation_id=intent.payee_organisation_id,
            purpose=intent.purpose,
            reference=intent.reference,
            amount_fen=intent.amount_fen,
        ),
    )
    paid = await _succeed(
        session,
        intent.provider,
        txn,
        PaymentIntent.id == intent.id,
        PaymentIntent.amount_fen == intent.amount_fen,
    )
    if paid is None:  # closed meanwhile (expired): the charge is undone with the transaction
        raise Conflict(
            N_("This payment cannot be paid any more; it is {state}."),
            code="not_payable",
            state=status_label(EXPIRED),
        )
    audit.record(
        session,
        actor,
        "payments.deferred_paid",
        target_type="payment",
        target_id=paid.id,
        provider=paid.provider,
        amount_fen=paid.amount_fen,
    )
    return paid


async def _not_applied(
    session: AsyncSession,
    provider_name: str,
    note: providers.Notification,
    done: Callable[[str], CallbackResult],
    body: bytes,
    remote_addr: str | None,
) -> CallbackResult:
    """Why a signed success notification changed nothing: classify, record, answer."""
    intent = await session.scalar(
        select(PaymentIntent)
        .where(
            PaymentIntent.public_id == note.intent_public_id,
            PaymentIntent.provider == provider_name,
        )
        .execution_options(populate_existing=True)
    )
    if intent is None:
        _record(
            session, provider_name, body, remote_addr, valid=True, outcome=UNKNOWN_INTENT, note=note
        )
        raise NotFound(
            N_("The notification is for a payment we do not know."),
            code="unknown_intent",
            keep_changes=True,
        )
    if note.amount_fen != intent.amount_fen:
        _record(
            session,
            provider_name,
            body,
            remote_addr,
            valid=True,
            outcome=AMOUNT_MISMATCH,
            note=note,
        )
        audit.record(
            session,
            Actor.for_system(),
            "payments.amount_mismatch",
            target_type="payment",
            target_id=intent.id,
            notified_fen=note.amount_fen,
            expected_fen=intent.amount_fen,
        )
        raise BadRequest(
            N_("The notified amount does not match the payment."),
            code="amount_mismatch",
            keep_changes=True,
        )
    if intent.status in (CANCELLED, EXPIRED):
        returned = await _return_paid_after_close(session, intent, note)
        audit.record(
            session,
            Actor.for_system(),
            "payments.paid_after_close",
            target_type="payment",
            target_id=intent.id,
            provider_txn_id=note.provider_txn_id,
            refund=returned,
        )
        return done(INTENT_CLOSED)
    if intent.provider_txn_id != note.provider_txn_id:
        audit.record(
            session,
            Actor.for_system(),
            "payments.second_transaction",
            target_type="payment",
            target_id=intent.id,
            provider_txn_id=note.provider_txn_id,
        )
        return done(CONFLICTING)
    seen = await session.scalar(
        select(
            exists().where(
                PaymentCallback.provider == provider_name,
                PaymentCallback.notification_id == note.notification_id,
                PaymentCallback.signature_valid.is_(True),
            )
        )
    )
    return done(REPLAY if seen else DUPLICATE)


async def _return_paid_after_close(
    session: AsyncSession, intent: PaymentIntent, note: providers.Notification
) -> str:
    """Money arrived for an intent we had already closed (the payer paid while it expired):
    book it, then send all of it back through the provider at once. Only the first
    transaction of a closed intent is returned automatically; what happened is returned
    ("refunded", "pending", "failed", or "already" for a repeat)."""
    claimed = await session.scalar(
        update(PaymentIntent)
        .where(
            PaymentIntent.id == intent.id,
            PaymentIntent.status.in_((CANCELLED, EXPIRED)),
            PaymentIntent.provider_txn_id.is_(None),
        )
        .values(provider_txn_id=note.provider_txn_id, refunded_fen=intent.amount_fen)
        .returning(PaymentIntent.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        return "already"
    await session.refresh(intent)
    await ledger.post(
        session,
        "payment",
        intent.public_id,
        ledger.payment_postings(intent.provider, intent.payer_user_id, intent.amount_fen),
    )
    row = PaymentRefund(
        public_id=str(uuid.uuid4()),
        intent_id=intent.id,
        amount_fen=intent.amount_fen,
        reason="paid after the payment was closed",
        reason_code=RefundReason.PAYMENT_EXPIRED,
        status=REFUND_PENDING,
        idempotency_key=f"closed-{intent.id}",
        requested_by_user_id=None,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    result = await providers.get(intent.provider).refund(intent, row)
    if result.status == "succeeded":
        await _complete(session, intent, row, result.provider_refund_id)
        return "refunded"
    if result.status == "failed":
        # Stays booked as owed to the payer (clearing); an operator refunds it by hand.
        row.status, row.completed_at = REFUND_FAILED, clock.now()
        return "failed"
    return "pending"  # completed later by the provider's refund notification


# --- refunds ------------------------------------------------------------------------------


async def attempt_key(session: AsyncSession, intent_id: int, key: str) -> str:
    """The idempotency key for an attempt at a refund: `key` itself, unless the provider
    refused a refund under it (that key would only answer with the refusal): then `key` with
    the attempt's number (`key#2`, `key#3`, ...)."""
    refused = set(
        await session.scalars(
            select(PaymentRefund.idempotency_key).where(
                PaymentRefund.intent_id == intent_id,
                PaymentRefund.status == REFUND_FAILED,
                (PaymentRefund.idempotency_key == key)
                | PaymentRefund.idempotency_key.startswith(f"{key}#", autoescape=True),
            )
        )
    )
    attempt, candidate = 1, key
    while candidate in refused:
        attempt += 1
        candidate = f"{key}#{attempt}"
    return candidate


def refused(row: PaymentRefund) -> bool:
    return row.status == REFUND_FAILED


async def refund(
    session: AsyncSession,
    actor: Actor,
    intent_id: int,
    amount_fen: int,
    reason: str,
    *,
    reason_code: RefundReason,
    idempotency_key: str | None = None,
) -> PaymentRefund:
    """Give back part or all of a paid intent through its provider. The total refunded never
    exceeds the amount (a conditional UPDATE of `refunded_fen`). With an idempotency key, a
    repeated call returns the first refund. `reason_code` says why (shown to the payer in
    their language); `reason` keeps the words."""
    reached = (
        await session.execute(
            policies.refundable_intents(actor)
            .where(PaymentIntent.id == intent_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if reached is None:
        raise payment_not_found()
    intent, may_refund = reached
    if not may_refund:
        raise Forbidden(N_("You do not have permission to do this."))
    if intent.purpose != DIRECT and not actor.system:
        raise _refund_elsewhere(intent)
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise ValidationFailed(
            N_("Check the refund."), fields={"reason": N_("Enter 1 to 200 characters.")}
        )
    if isinstance(amount_fen, bool) or not 1 <= amount_fen <= MAX_AMOUNT_FEN:
        raise ValidationFailed(
            N_("Check the refund."),
            fields={"amount_fen": N_("Enter an amount between 1 fen and ¥100,000,000.")},
        )
    if idempotency_key is not None:
        existing = await session.scalar(
            select(PaymentRefund).where(
                PaymentRefund.intent_id == intent.id,
                PaymentRefund.idempotency_key == idempotency_key,
            )
        )
        if existing is not None:
            if existing.amount_fen != amount_fen:
                raise Conflict(
                    N_("This idempotency key was already used for a different refund."),
                    code="idempotency_key_reused",
                )
            return existing
    if intent.status != SUCCEEDED:
        raise Conflict(
            N_("Only a paid payment can be refunded; this one is {state}."),
            code="not_refundable",
            state=status_label(intent.status),
        )
    reserved = await session.scalar(
        update(PaymentIntent)
        .where(
            PaymentIntent.id == intent.id,
            PaymentIntent.status == SUCCEEDED,
            PaymentIntent.refunded_fen + amount_fen <= PaymentIntent.amount_fen,
        )
        .values(refunded_fen=PaymentIntent.refunded_fen + amount_fen)
        .returning(PaymentIntent.refunded_fen)
    )
    if reserved is None:
        await session.refresh(intent)
        raise Conflict(
            N_("At most {left} can still be refunded."),
            code="refund_exceeds_payment",
            left=format_fen(intent.amount_fen - intent.refunded_fen),
            fields={"amount_fen": N_("More than what is left to refund.")},
        )
    row = PaymentRefund(
        public_id=str(uuid.uuid4()),
        intent_id=intent.id,
        amount_fen=amount_fen,
        reason=reason,
        reason_code=RefundReason(reason_code),
        status=REFUND_PENDING,
        idempotency_key=idempotency_key,
        requested_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    result = await providers.get(intent.provider).refund(intent, row)
    audit.record(
        session,
        actor,
        "payments.refund_requested",
        target_type="payment",
        target_id=intent.id,
        refund_id=row.id,
        amount_fen=amount_fen,
        reason_code=row.reason_code,
        outcome=result.status,
    )
    if result.status == "failed":
        await _release(session, intent.id, amount_fen)
        row.status, row.completed_at = REFUND_FAILED, clock.now()
        raise Conflict(
            N_("The payment provider refused the refund: {reason}"),
            code="refund_failed",
            reason=result.message or "",
            keep_changes=True,
        )
    if result.status == "succeeded":
        await _complete(session, intent, row, result.provider_refund_id)
    return row


async def complete_refund(
    session: AsyncSession, refund_id: int, *, provider_refund_id: str | None, succeeded: bool
) -> PaymentRefund:
    """A provider that refunds asynchronously reports the outcome of a pending refund."""
    row = await session.get(PaymentRefund, refund_id)
    if row is None:
        raise payment_not_found()
    if row.status != REFUND_PENDING:
        return row
    intent = await session.get(PaymentIntent, row.intent_id)
    assert intent is not None
    if succeeded:
        await _complete(session, intent, row, provider_refund_id)
    else:
        await _release(session, intent.id, row.amount_fen)
        row.status, row.completed_at = REFUND_FAILED, clock.now()
    return row


async def _release(session: AsyncSession, intent_id: int, amount_fen: int) -> None:
    await session.execute(
        update(PaymentIntent)
        .where(PaymentIntent.id == intent_id)
        .values(refunded_fen=PaymentIntent.refunded_fen - amount_fen)
    )


async def _complete(
    session: AsyncSession,
    intent: PaymentIntent,
    row: PaymentRefund,
    provider_refund_id: str | None,
) -> None:
    row.status, row.completed_at = REFUND_SUCCEEDED, clock.now()
    row.provider_refund_id = provider_refund_id
    await ledger.post(
        session,
        "refund",
        row.public_id,
        ledger.refund_postings(intent.provider, intent.payer_user_id, row.amount_fen),
    )
    outbox.publish(
        session,
        PaymentRefunded(
            refund_id=row.id,
            intent_id=intent.id,
            purpose=intent.purpose,
            reference=intent.reference,
            amount_fen=row.amount_fen,
        ),
    )


# --- what operators and merchants read ----------------------------------------------------


async def trial_balance(session: AsyncSession, actor: Actor) -> ledger.TrialBalance:
    ensure(actor, PLATFORM_AUDIT_READ)
    return await ledger.trial_balance(session)


async def account_balance(session: AsyncSession, actor: Actor, code: str) -> int:
    ensure(actor, PLATFORM_AUDIT_READ)
    if not ledger.is_account(code):
        raise ValidationFailed(
            N_("There is no such ledger account."), fields={"code": N_("Unknown account code.")}
        )
    return await ledger.balance(session, code)


async def merchant_payable(session: AsyncSession, actor: Actor) -> tuple[int, int]:
    """(organisation id, fen the platform owes it) for the actor's active merchant."""
    organisation_id = acting_organisation(actor, PAYMENTS_READ)
    owed = -await ledger.balance(session, ledger.merchant_payable(organisation_id))
    return organisation_id, owed


async def callbacks(
    session: AsyncSession, actor: Actor, *, outcome: str | None = None, limit: int = 50
) -> Sequence[PaymentCallback]:
    ensure(actor, PLATFORM_AUDIT_READ)
    query = select(PaymentCallback).order_by(PaymentCallback.id.desc()).limit(limit)
    if outcome:
        query = query.where(PaymentCallback.outcome == outcome)
    return (await session.scalars(query)).all()
