"""Pick up first, pay later (先提后付): a resident with good credit takes goods now and pays a
monthly bill (docs/pay-later.md).

- The facility: a resident whose grade reaches the rule's `min_grade` opens it
  (`open_facility`); its limit follows the score (`limit_bands`), computed again at every
  charge.
- Charges: payments' deferred provider `pay_later` (registered here) asks `PayLaterAccount
  .charge` to take an order's intent. The limit is enforced by one conditional UPDATE of the
  resident's account row (`used_fen + amount <= limit`, state active), so concurrent checkouts
  never exceed it on either database (PostgreSQL locks the row; SQLite writes one at a time).
  The charge goes onto the bill of its month (Asia/Shanghai), created on first use with its
  reminder and overdue jobs.
- Bills are paid through an ordinary (sandbox) payment of purpose `pay_later_bill` to the
  platform (`pay_bill`); `pay_later_handlers` applies it, books the receivable cleared, and
  publishes `PayLaterBillRepaid` (credit counts `pay_later_repaid` when on time).
- Due jobs: a reminder some days before the due date (`PayLaterBillDueSoon`), and at the due
  date plus grace days an unpaid bill turns overdue, the facility is suspended and
  `PayLaterBillOverdue` counts `pay_later_overdue`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import Actor
from linli.clock import LOCAL
from linli.config import Settings
from linli.credit import ledger
from linli.credit.models import SubjectKind
from linli.credit.pay_later_models import (
    AccountState,
    BillStatus,
    PayLaterAccount,
    PayLaterBill,
    PayLaterCharge,
)
from linli.errors import Conflict, NotFound
from linli.events import PayLaterBillDueSoon, PayLaterBillOverdue, PayLaterBillRepaid
from linli.i18n import N_
from linli.jobs import PayLaterOverdueCheck, PayLaterReminder
from linli.money import format_fen
from linli.payments import ledger as payments_ledger
from linli.payments import providers
from linli.payments import service as payments
from linli.payments.views import IntentView
from linli.rules import service as rules

RULE = "credit.pay_later"
PROVIDER = providers.PAY_LATER
BILL_PURPOSE = "pay_later_bill"  # the intents that pay a bill (reference: the bill's id)


# --- the rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayLaterRule:
    version: int
    min_grade: str
    bands: tuple[tuple[int, int], ...]  # (minimum score, limit fen), best first
    due_day: int
    grace_days: int
    reminder_days: int
    reactivate_on_repayment: bool

    @classmethod
    def of(cls, version: int, values: dict[str, Any]) -> PayLaterRule:
        bands = tuple((int(m), int(limit)) for m, limit in values["limit_bands"])
        assert [m for m, _ in bands] == sorted((m for m, _ in bands), reverse=True)
        assert values["cycle"] == "monthly"
        return cls(
            version=version,
            min_grade=str(values["min_grade"]),
            bands=bands,
            due_day=int(values["due_day"]),
            grace_days=int(values["grace_days"]),
            reminder_days=int(values["reminder_days"]),
            reactivate_on_repayment=bool(values["reactivate_on_repayment"]),
        )

    def band_limit(self, score: int) -> int:
        for minimum, limit in self.bands:
            if score >= minimum:
                return limit
        return 0


async def rule_in_force(session: AsyncSession, at: datetime | None = None) -> PayLaterRule:
    rule = await rules.in_force(session, RULE, at=at)
    return PayLaterRule.of(rule.version, rule.values)


@dataclass(frozen=True)
class Qualification:
    score: int
    grade: str
    min_grade: str
    qualifies: bool
    limit_fen: int  # 0 when not qualified
    rule: PayLaterRule


async def qualification(session: AsyncSession, user_id: int) -> Qualification:
    """Whether the resident's grade reaches the rule's minimum, and the limit their score
    gives (explained on the page: the grade, the band)."""
    rule = await rule_in_force(session)
    scoring = await ledger.scoring_in_force(session)
    standing = await ledger.standing(session, SubjectKind.RESIDENT, user_id, scoring=scoring)
    qualifies = scoring.grade_rank(standing.grade) <= scoring.grade_rank(rule.min_grade)
    limit = rule.band_limit(standing.score) if qualifies else 0
    return Qualification(
        standing.score, standing.grade, rule.min_grade, qualifies and limit > 0, limit, rule
    )


# --- bills' dates ------------------------------------------------------------------------


@dataclass(frozen=True)
class BillDates:
    period: str
    due_date: date
    due_at: datetime  # the end of the due day (Shanghai)
    overdue_at: datetime
    remind_at: datetime


def bill_dates(rule: PayLaterRule, moment: datetime) -> BillDates:
    """The bill a charge at `moment` goes on: its Shanghai month, due on the rule's day of
    the following month."""
    local = moment.astimezone(LOCAL).date()
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    due = date(year, month, rule.due_day)
    due_at = datetime.combine(due + timedelta(days=1), time(0), tzinfo=LOCAL)
    return BillDates(
        period=f"{local.year:04d}-{local.month:02d}",
        due_date=due,
        due_at=due_at,
        overdue_at=due_at + timedelta(days=rule.grace_days),
        remind_at=datetime.combine(due - timedelta(days=rule.reminder_days), time(10), LOCAL),
    )


def outstanding(bill: PayLaterBill) -> int:
    return max(0, bill.amount_fen - bill.paid_fen)


# --- errors --------------------------------------------------------------------------------


def not_open() -> Conflict:
    return Conflict(
        N_("Open pick up first, pay later on your credit page before ordering on credit."),
        code="pay_later_not_open",
    )


def suspended() -> Conflict:
    return Conflict(
        N_("Your pay-later facility is suspended until your overdue bill is paid."),
        code="pay_later_suspended",
    )


def not_qualified(q: Qualification) -> Conflict:
    return Conflict(
        N_("Pay later needs credit grade {needed} or better; yours is {grade}."),
        code="pay_later_not_qualified",
        needed=q.min_grade,
        grade=q.grade,
    )


def bill_not_found() -> NotFound:
    return NotFound(N_("There is no such bill."), code="bill_not_found")


# --- the facility ------------------------------------------------------------------------


async def account_of(
    session: AsyncSession, user_id: int, *, fresh: bool = False
) -> PayLaterAccount | None:
    query = select(PayLaterAccount).where(PayLaterAccount.user_id == user_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def open_facility(session: AsyncSession, actor: Actor) -> PayLaterAccount:
    """The resident opens the facility (once; a second call returns it). Refused (409) when
    their grade is below the rule's minimum."""
    user_id = actor.require_user_id()
    existing = await account_of(session, user_id)
    if existing is not None:
        return existing
    q = await qualification(session, user_id)
    if not q.qualifies:
        raise not_qualified(q)
    now = clock.now()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(PayLaterAccount)
        .values(
            user_id=user_id,
            state=AccountState.ACTIVE,
            limit_fen=q.limit_fen,
            used_fen=0,
            rule_version=q.rule.version,
            opened_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    account = await account_of(session, user_id, fresh=True)
    assert account is not None
    audit.record(
        session,
        actor,
        "credit.pay_later_opened",
        target_type="pay_later_account",
        target_id=account.id,
        limit_fen=account.limit_fen,
        score=q.score,
        grade=q.grade,
        rule_version=q.rule.version,
    )
    return account


class PayLaterDeferredAccount:
    """What payments' deferred provider `pay_later` charges (see the module's docstring)."""

    async def charge(self, session: AsyncSession, charge: providers.DeferredCharge) -> str:
        user_id = charge.payer_user_id
        q = await qualification(session, user_id)
        now = clock.now()
        # The one statement that decides: taken only within the limit of an active facility.
        taken = await session.scalar(
            update(PayLaterAccount)
            .where(
                PayLaterAccount.user_id == user_id,
                PayLaterAccount.state == AccountState.ACTIVE,
                PayLaterAccount.used_fen + charge.amount_fen <= q.limit_fen,
            )
            .values(
                used_fen=PayLaterAccount.used_fen + charge.amount_fen,
                limit_fen=q.limit_fen,
                rule_version=q.rule.version,
                updated_at=now,
            )
            .returning(PayLaterAccount.id)
            .execution_options(synchronize_session=False)
        )
        if taken is None:
            raise await _refusal(session, user_id, q, charge.amount_fen)
        bill = await _bill_for(session, user_id, q.rule, now)
        await session.execute(
            update(PayLaterBill)
            .where(PayLaterBill.id == bill.id)
            .values(
                amount_fen=PayLaterBill.amount_fen + charge.amount_fen,
                # a bill paid early takes new charges of its month again
                status=case(
                    (PayLaterBill.status == BillStatus.PAID, BillStatus.OPEN),
                    else_=PayLaterBill.status,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        row = PayLaterCharge(
            user_id=user_id,
            bill_id=bill.id,
            intent_id=charge.intent_id,
            intent_public_id=charge.public_id,
            purpose=charge.purpose,
            reference=charge.reference,
            amount_fen=charge.amount_fen,
            refunded_fen=0,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return f"plc{row.id}"


async def _refusal(
    session: AsyncSession, user_id: int, q: Qualification, amount_fen: int
) -> Conflict:
    """Why a charge was not taken (read after the conditional UPDATE refused it)."""
    account = await account_of(session, user_id, fresh=True)
    if account is None:
        return not_open()
    if account.state != AccountState.ACTIVE:
        return suspended()
    if not q.qualifies:
        return not_qualified(q)
    return Conflict(
        N_("This order of {amount} is more than your available pay-later limit of {available}."),
        code="pay_later_limit_exceeded",
        amount=format_fen(amount_fen),
        available=format_fen(max(0, q.limit_fen - account.used_fen)),
    )


async def _bill_for(
    session: AsyncSession, user_id: int, rule: PayLaterRule, now: datetime
) -> PayLaterBill:
    """The resident's bill for `now`'s month, created (with its due jobs) on first use."""
    dates = bill_dates(rule, now)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    created = await session.scalar(
        insert(PayLaterBill)
        .values(
            user_id=user_id,
            period=dates.period,
            due_date=dates.due_date.isoformat(),
            due_at=dates.due_at,
            overdue_at=dates.overdue_at,
            amount_fen=0,
            paid_fen=0,
            status=BillStatus.OPEN,
            rule_version=rule.version,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "period"])
        .returning(PayLaterBill.id)
    )
    if created is not None:
        await outbox.schedule(session, PayLaterReminder(bill_id=created), dates.remind_at)
        await outbox.schedule(session, PayLaterOverdueCheck(bill_id=created), dates.overdue_at)
    bill = await session.scalar(
        select(PayLaterBill)
        .where(PayLaterBill.user_id == user_id, PayLaterBill.period == dates.period)
        .execution_options(populate_existing=True)
    )
    assert bill is not None
    return bill


providers.register_deferred(PROVIDER, PayLaterDeferredAccount())


# --- what the resident sees ------------------------------------------------------------------


@dataclass(frozen=True)
class BillView:
    bill: PayLaterBill
    charges: list[PayLaterCharge]

    @property
    def outstanding_fen(self) -> int:
        return outstanding(self.bill)


@dataclass(frozen=True)
class Facility:
    qualification: Qualification
    account: PayLaterAccount | None
    bills: list[BillView]

    @property
    def available_fen(self) -> int:
        if self.account is None or self.account.state != AccountState.ACTIVE:
            return 0
        return max(0, self.qualification.limit_fen - self.account.used_fen)


async def bills_of(session: AsyncSession, user_id: int) -> list[BillView]:
    bills = (
        await session.scalars(
            select(PayLaterBill)
            .where(PayLaterBill.user_id == user_id)
            .order_by(PayLaterBill.period.desc())
            .execution_options(populate_existing=True)
        )
    ).all()
    charges = (
        await session.scalars(
            select(PayLaterCharge)
            .where(PayLaterCharge.bill_id.in_([b.id for b in bills]))
            .order_by(PayLaterCharge.id)
        )
    ).all()
    return [BillView(b, [c for c in charges if c.bill_id == b.id]) for b in bills]


async def my_facility(session: AsyncSession, actor: Actor) -> Facility:
    user_id = actor.require_user_id()
    return Facility(
        qualification=await qualification(session, user_id),
        account=await account_of(session, user_id, fresh=True),
        bills=await bills_of(session, user_id),
    )


async def access_bill(session: AsyncSession, actor: Actor, bill_id: int) -> PayLaterBill:
    """The acting resident's own bill, else 404 (another resident's bill included)."""
    bill = await session.scalar(
        select(PayLaterBill)
        .where(PayLaterBill.id == bill_id, PayLaterBill.user_id == actor.require_user_id())
        .execution_options(populate_existing=True)
    )
    if bill is None:
        raise bill_not_found()
    return bill


async def _platform_id(session: AsyncSession) -> int:
    platform = await session.scalar(
        select(Organisation.id).where(Organisation.kind == "platform").order_by(Organisation.id)
    )
    if platform is None:
        raise Conflict(
            N_("Bills cannot be paid online yet: the platform has no payee account."),
            code="no_platform_payee",
        )
    return int(platform)


async def pay_bill(
    session: AsyncSession, actor: Actor, bill_id: int, settings: Settings
) -> IntentView:
    """The resident pays what is left of a bill: an ordinary payment of purpose
    `pay_later_bill` to the platform (the same open payment is returned while it can still
    be paid). The checkout (`/pay/{id}`) takes the money; `pay_later_handlers` applies it."""
    bill = await access_bill(session, actor, bill_id)
    # One payer at a time per bill: two clicks at once must not open two payments.
    await session.execute(
        select(PayLaterBill.id).where(PayLaterBill.id == bill.id).with_for_update()
    )
    await session.refresh(bill)
    left = outstanding(bill)
    if left == 0:
        raise Conflict(N_("This bill has nothing left to pay."), code="bill_settled")
    now = clock.now()
    earlier = await payments.intents_for(session, Actor.for_system(), BILL_PURPOSE, str(bill.id))
    for intent in reversed(earlier):
        if intent.status == "created" and intent.amount_fen == left and intent.expires_at > now:
            return intent
    # An open payment for another amount (charges or refunds came since) is closed, so only
    # one payment can settle the bill; money paid into a closed one goes back to the payer.
    for intent in earlier:
        if intent.status == "created":
            await payments.cancel_intent(session, Actor.for_system(), intent.id)
    intent = await payments.create_intent(
        session,
        actor,
        payee_organisation_id=await _platform_id(session),
        purpose=BILL_PURPOSE,
        reference=str(bill.id),
        amount_fen=left,
        idempotency_key=f"pay-later-bill-{bill.id}-{uuid.uuid4().hex[:12]}",
    )
    audit.record(
        session,
        actor,
        "credit.pay_later_bill_payment",
        target_type="pay_later_bill",
        target_id=bill.id,
        amount_fen=left,
        intent=intent.public_id,
    )
    return intent


# --- repayments and refunds (from payments' events) ---------------------------------------------


async def apply_repayment(
    session: AsyncSession,
    *,
    bill_id: int,
    intent_public_id: str,
    amount_fen: int,
    paid_at: datetime,
) -> None:
    """A bill payment succeeded: clear the receivable in the ledger, lower what the resident
    owes, and once the bill is paid in full publish `PayLaterBillRepaid` (on time when paid
    before the end of the due date) and, per the rule, reactivate a facility suspended for
    it."""
    await payments_ledger.post(
        session,
        "pay_later_repayment",
        intent_public_id,
        payments_ledger.deferred_repayment_postings(PROVIDER, amount_fen),
    )
    bill = await session.scalar(
        select(PayLaterBill)
        .where(PayLaterBill.id == bill_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if bill is None:  # not a bill of ours: booked, nothing else to do
        return
    was_overdue = bill.status == BillStatus.OVERDUE
    already_paid = bill.status == BillStatus.PAID
    # Never more than is owed on the bill; a surplus (which the one-open-payment rule of
    # `pay_bill` should make impossible) stays with the resident as a prepayment and is
    # recorded for an operator.
    applied = min(amount_fen, outstanding(bill))
    if applied < amount_fen:
        audit.record(
            session,
            Actor.for_system(),
            "credit.pay_later_overpaid",
            target_type="pay_later_bill",
            target_id=bill.id,
            intent=intent_public_id,
            surplus_fen=amount_fen - applied,
        )
    bill.paid_fen += applied
    await session.execute(
        update(PayLaterAccount)
        .where(PayLaterAccount.user_id == bill.user_id)
        .values(used_fen=PayLaterAccount.used_fen - amount_fen, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if already_paid or bill.paid_fen < bill.amount_fen:
        await session.flush()
        return
    # A bill earns its repayment once: a charge that reopened a paid bill of the month does
    # not make a second repayment (and a second credit record) of it.
    first_settlement = bill.paid_at is None
    bill.status = BillStatus.PAID
    if first_settlement:
        bill.paid_at = paid_at
    await session.flush()
    if not first_settlement:
        if was_overdue:
            await _maybe_reactivate(session, bill.user_id)
        return
    outbox.publish(
        session,
        PayLaterBillRepaid(
            bill_id=bill.id,
            user_id=bill.user_id,
            period=bill.period,
            amount_fen=bill.paid_fen,
            on_time=paid_at < bill.due_at,
            was_overdue=was_overdue,
        ),
    )
    if was_overdue:
        await _maybe_reactivate(session, bill.user_id)


async def _maybe_reactivate(session: AsyncSession, user_id: int) -> None:
    rule = await rule_in_force(session)
    if not rule.reactivate_on_repayment:
        return
    other_overdue = await session.scalar(
        select(
            exists().where(
                PayLaterBill.user_id == user_id, PayLaterBill.status == BillStatus.OVERDUE
            )
        )
    )
    if other_overdue:
        return
    reactivated = await session.scalar(
        update(PayLaterAccount)
        .where(
            PayLaterAccount.user_id == user_id,
            PayLaterAccount.state == AccountState.SUSPENDED,
        )
        .values(state=AccountState.ACTIVE, suspended_at=None, updated_at=clock.now())
        .returning(PayLaterAccount.id)
        .execution_options(synchronize_session=False)
    )
    if reactivated is not None:
        audit.record(
            session,
            Actor.for_system(),
            "credit.pay_later_reactivated",
            target_type="pay_later_account",
            target_id=reactivated,
            user_id=user_id,
            rule_version=rule.version,
        )


async def apply_refund(session: AsyncSession, *, intent_id: int, amount_fen: int) -> None:
    """A refund of an order paid later sends no money: it lowers the charge's bill and what
    the resident owes (a bill it settles in full is closed as paid without a repayment, so
    without credit for it). The ledger already moved it out of `cash:pay_later`."""
    charge = await session.scalar(
        select(PayLaterCharge)
        .where(PayLaterCharge.intent_id == intent_id)
        .execution_options(populate_existing=True)
    )
    if charge is None:  # not an order paid later
        return
    charge.refunded_fen += amount_fen
    bill = await session.scalar(
        select(PayLaterBill)
        .where(PayLaterBill.id == charge.bill_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert bill is not None
    bill.amount_fen -= amount_fen
    emptied_overdue = False
    if bill.status in (BillStatus.OPEN, BillStatus.OVERDUE) and bill.amount_fen <= bill.paid_fen:
        # nothing left to pay: a bill emptied by refunds is closed (no repayment credit); an
        # overdue one no longer keeps the facility suspended
        emptied_overdue = bill.status == BillStatus.OVERDUE
        bill.status, bill.paid_at = BillStatus.PAID, clock.now()
    await session.execute(
        update(PayLaterAccount)
        .where(PayLaterAccount.user_id == charge.user_id)
        .values(used_fen=PayLaterAccount.used_fen - amount_fen, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    if emptied_overdue:
        await _maybe_reactivate(session, bill.user_id)


# --- the due jobs ------------------------------------------------------------------------------


async def remind(session: AsyncSession, bill_id: int) -> None:
    bill = await session.get(PayLaterBill, bill_id, populate_existing=True)
    if bill is None or bill.status != BillStatus.OPEN or outstanding(bill) == 0:
        return
    outbox.publish(
        session,
        PayLaterBillDueSoon(
            bill_id=bill.id,
            user_id=bill.user_id,
            period=bill.period,
            due_date=bill.due_date,
            amount_due_fen=outstanding(bill),
        ),
    )


async def mark_overdue(session: AsyncSession, bill_id: int) -> bool:
    """Due date plus grace days: an unpaid bill turns overdue (one conditional UPDATE, so a
    payment applied meanwhile wins), the facility is suspended, `PayLaterBillOverdue`."""
    now = clock.now()
    bill = await session.scalar(
        update(PayLaterBill)
        .where(
            PayLaterBill.id == bill_id,
            PayLaterBill.status == BillStatus.OPEN,
            PayLaterBill.paid_fen < PayLaterBill.amount_fen,
            PayLaterBill.overdue_at <= now,
        )
        .values(status=BillStatus.OVERDUE, overdue_marked_at=now)
        .returning(PayLaterBill)
        .execution_options(populate_existing=True)
    )
    if bill is None:
        return False
    account_id = await session.scalar(
        update(PayLaterAccount)
        .where(PayLaterAccount.user_id == bill.user_id)
        .values(state=AccountState.SUSPENDED, suspended_at=now, updated_at=now)
        .returning(PayLaterAccount.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        Actor.for_system(),
        "credit.pay_later_suspended",
        target_type="pay_later_account",
        target_id=account_id,
        user_id=bill.user_id,
        bill_id=bill.id,
        amount_due_fen=outstanding(bill),
    )
    outbox.publish(
        session,
        PayLaterBillOverdue(
            bill_id=bill.id,
            user_id=bill.user_id,
            period=bill.period,
            due_date=bill.due_date,
            amount_due_fen=outstanding(bill),
        ),
    )
    return True


# --- personal data ----------------------------------------------------------------------


async def unpaid_bills(session: AsyncSession, user_id: int) -> Sequence[PayLaterBill]:
    return (
        await session.scalars(
            select(PayLaterBill).where(
                PayLaterBill.user_id == user_id,
                PayLaterBill.status != BillStatus.PAID,
                PayLaterBill.paid_fen < PayLaterBill.amount_fen,
            )
        )
    ).all()
