"""Seven-day no-reason returns of collected group-buy goods and received live orders (CRPL
art. 25; defective goods, art. 24, as their own reason): the request, the merchant's answer
(or the automatic approval when it does not come in time), the goods received back at the
pickup point (or by the merchant), the refund through group buying (`groupbuy.lines`) or live
selling (`live.lines`), and the refund deadline. docs/protection-returns.md.

Every step names the rule version it applies: the request records the version in force, the
later steps apply that one. Units are held against the line from the request until it is
rejected or refunded; the line row is locked while a request is checked, so two requests
never hold more units than were collected and not yet refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import PAYMENTS_REFUND, PROTECTION_RETURNS_ANSWER, PROTECTION_RETURNS_READ, Actor
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import (
    ReturnDecided,
    ReturnReceived,
    ReturnRefunded,
    ReturnRefundOverdue,
    ReturnRefundRefused,
    ReturnRequested,
)
from linli.files import service as files
from linli.groupbuy import lines
from linli.i18n import N_, Message
from linli.jobs import ReturnAnswerDue, ReturnRefundDue
from linli.live import lines as live_lines
from linli.protection import claims
from linli.protection import return_policies as policies
from linli.protection.return_models import (
    HOLDING_STATUSES,
    GoodsCondition,
    ReceivedHow,
    ReturnReason,
    ReturnRequest,
    ReturnStatus,
)
from linli.protection.return_schemas import (
    MAX_PHOTOS,
    ReturnAnswerIn,
    ReturnIn,
    ReturnReceiptIn,
    ReturnRefusalIn,
)
from linli.rules import service as rules

RULE = "consumer.no_reason_return"
PHOTO_PURPOSE = "return_photo"
# Photos one return's receipt may upload: the receipt keeps at most MAX_PHOTOS (6); twice that
# leaves room for retakes, and no more (each upload is kept until swept with its return).
MAX_UPLOADS = 2 * MAX_PHOTOS

# Why a line cannot be returned without a reason: the law's exclusion, or the resident's
# confirmation at checkout (the campaign item's stored exclusion names the goods' kind).
EXCLUDED_BY_LAW = "excluded_by_law"
EXCLUDED_AT_CHECKOUT = "excluded_at_checkout"


def local_day(moment: datetime) -> date:
    return moment.astimezone(clock.LOCAL).date()


def last_day(received_on: date, days: int) -> date:
    """The window starts the day after receipt: received on day 0, days 1..`days` are in it."""
    return received_on + timedelta(days=days)


def excluded_by_law(values: dict[str, Any], exclusion: str | None) -> bool:
    """The item's stored exclusion is one of the kinds the law excludes, as the rule maps them
    onto this catalogue (storage classes and categories of fresh, perishable goods)."""
    if exclusion is None:
        return False
    kind, _, code = exclusion.partition(":")
    if kind == "storage":
        return code in values.get("excluded_storage_classes", [])
    if kind == "category":
        return code in values.get("excluded_categories", [])
    return False


def deadline_of(row: ReturnRequest) -> datetime | None:
    """What the next step waits for, until when: the answer, then the refund."""
    if row.status == ReturnStatus.REQUESTED:
        return row.answer_due_at
    if row.status == ReturnStatus.RECEIVED:
        return row.refund_due_at
    return None


def _deadline_column() -> Any:
    return case(
        (ReturnRequest.status == ReturnStatus.REQUESTED, ReturnRequest.answer_due_at),
        (ReturnRequest.status == ReturnStatus.RECEIVED, ReturnRequest.refund_due_at),
        else_=None,
    )


async def _held_units(session: AsyncSession, source: Bought) -> int:
    column = (
        ReturnRequest.live_order_id
        if source.live_order_id is not None
        else ReturnRequest.order_line_id
    )
    held = await session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.quantity), 0)).where(
            column == (source.live_order_id or source.line_id),
            ReturnRequest.status.in_(HOLDING_STATUSES),
        )
    )
    return int(held or 0)


@dataclass(frozen=True)
class Bought:
    """What a return is of: a group-buy order line (`line_id`, with its order and pickup
    point) or a live order (`live_order_id`), as the request needs it."""

    user_id: int
    organisation_id: int
    product_name: str
    unit_price_fen: int
    received_qty: int  # collected (group buy) or received (live order)
    returned_qty: int
    claimed_qty: int
    return_exclusion: str | None
    excluded_at_checkout: bool
    received_at: datetime | None
    line_id: int | None = None
    order_id: int | None = None
    pickup_point_id: int | None = None
    live_order_id: int | None = None

    @property
    def field(self) -> str:
        return "live_order_id" if self.live_order_id is not None else "line_id"


async def _bought(
    session: AsyncSession, data: ReturnIn, user_id: int, values: dict[str, Any]
) -> Bought:
    """The resident's own line or live order, its row locked until the transaction ends."""
    if data.live_order_id is not None:
        order = await live_lines.received_order(
            session, data.live_order_id, user_id=user_id, lock=True
        )
        if order is None:
            raise NotFound(N_("No such live order."), code="live_order_not_found")
        return Bought(
            user_id=order.user_id,
            organisation_id=order.organisation_id,
            product_name=order.product_name,
            unit_price_fen=order.unit_price_fen,
            received_qty=order.received_qty,
            returned_qty=order.returned_qty,
            # Kept by quality claims (refund without return), held by the claims' rows.
            claimed_qty=await claims.live_units_claimed(session, order.order_id),
            return_exclusion=order.exclusion(values),
            excluded_at_checkout=False,  # live checkout asks no exclusion confirmation
            received_at=order.received_at,
            live_order_id=order.order_id,
        )
    assert data.line_id is not None  # ReturnIn names exactly one
    line = await lines.collected_line(session, data.line_id, user_id=user_id, lock=True)
    if line is None:
        raise NotFound(N_("No such order line."), code="line_not_found")
    return Bought(
        user_id=line.user_id,
        organisation_id=line.organisation_id,
        product_name=line.product_name,
        unit_price_fen=line.unit_price_fen,
        received_qty=line.picked_qty,
        returned_qty=line.returned_qty,
        claimed_qty=line.claimed_qty,
        return_exclusion=line.return_exclusion,
        excluded_at_checkout=line.excluded_at_checkout,
        received_at=line.received_at,
        line_id=line.line_id,
        order_id=line.order_id,
        pickup_point_id=line.pickup_point_id,
    )


async def request_return(session: AsyncSession, actor: Actor, data: ReturnIn) -> ReturnRequest:
    """A resident asks to return units of a line they collected, or of a live order they
    received."""
    user_id = actor.require_user_id()
    rule = await rules.in_force(session, RULE)
    values = rule.values
    line = await _bought(session, data, user_id, values)
    if line.received_at is None or line.received_qty == 0:
        raise ValidationFailed(
            N_("This return cannot be requested."),
            fields={
                line.field: N_("Nothing of this line was collected.")
                if line.live_order_id is None
                else N_("This order has not been received yet.")
            },
            code="not_collected" if line.live_order_id is None else "not_received",
        )
    defective = data.reason_code == ReturnReason.DEFECTIVE
    if not defective:
        if excluded_by_law(values, line.return_exclusion):
            raise ValidationFailed(
                N_("This return cannot be requested."),
                fields={
                    line.field: N_(
                        "Excluded from the seven-day no-reason return by law (fresh, live or "
                        "perishable goods; CRPL art. 25)."
                    )
                },
                code=EXCLUDED_BY_LAW,
            )
        if line.excluded_at_checkout:
            raise ValidationFailed(
                N_("This return cannot be requested."),
                fields={
                    line.field: N_(
                        "You confirmed at checkout that this item is excluded from the "
                        "seven-day no-reason return."
                    )
                },
                code=EXCLUDED_AT_CHECKOUT,
            )
    now = clock.now()
    received_on = local_day(line.received_at)
    # Defective goods (art. 24) are not subject to the exclusions but to their own 7 days.
    days = int(values["defect_days"] if defective else values["days"])
    final = last_day(received_on, days)
    if local_day(now) > final:
        raise ValidationFailed(
            N_("This return cannot be requested."),
            fields={line.field: Message(N_("The return period ended on {day}."), {"day": final})},
            code="return_window_closed",
        )
    available = (
        line.received_qty
        - line.returned_qty
        - line.claimed_qty  # kept by quality claims (refund without return)
        - await _held_units(session, line)
    )
    if data.quantity > available:
        raise ValidationFailed(
            N_("This return cannot be requested."),
            fields={
                "quantity": N_(
                    "More than you collected and have not yet returned or asked to return."
                )
            },
            code="return_exceeds_collected",
        )
    row = ReturnRequest(
        user_id=user_id,
        organisation_id=line.organisation_id,
        order_id=line.order_id,
        order_line_id=line.line_id,
        pickup_point_id=line.pickup_point_id,
        live_order_id=line.live_order_id,
        product_name=line.product_name,
        quantity=data.quantity,
        unit_price_fen=line.unit_price_fen,
        reason_code=data.reason_code,
        reason_text=data.reason_text,
        status=ReturnStatus.REQUESTED,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        received_on=received_on,
        last_day=final,
        created_at=now,
        answer_due_at=now + timedelta(hours=int(values["answer_hours"])),
        photo_file_ids=[],
    )
    session.add(row)
    await session.flush()
    await outbox.schedule(
        session,
        ReturnAnswerDue(return_id=row.id),
        row.answer_due_at,
        dedupe_key=f"return-answer-{row.id}",
    )
    outbox.publish(
        session,
        ReturnRequested(
            return_id=row.id,
            user_id=user_id,
            organisation_id=row.organisation_id,
            order_id=row.order_id,
            order_line_id=row.order_line_id,
            pickup_point_id=row.pickup_point_id,
            live_order_id=row.live_order_id,
            product_name=row.product_name,
            quantity=row.quantity,
            reason_code=row.reason_code,
            answer_due_at=row.answer_due_at,
        ),
    )
    _audit(
        session,
        actor,
        "protection.return_requested",
        row,
        line_id=row.order_line_id,
        live_order_id=row.live_order_id,
        quantity=row.quantity,
        reason_code=row.reason_code,
    )
    return row


def _audit(
    session: AsyncSession, actor: Actor, action: str, row: ReturnRequest, **details: Any
) -> None:
    """An audit entry about a return, naming the rule version the return applies."""
    audit.record(
        session,
        actor,
        action,
        target_type="protection_return",
        target_id=row.id,
        **details,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )


async def _locked(session: AsyncSession, query: Any, return_id: int) -> ReturnRequest:
    row = await session.scalar(
        query.where(ReturnRequest.id == return_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(N_("No such return."), code="return_not_found")
    assert isinstance(row, ReturnRequest)
    return row


def _decided(row: ReturnRequest, *, automatic: bool) -> ReturnDecided:
    return ReturnDecided(
        return_id=row.id,
        user_id=row.user_id,
        organisation_id=row.organisation_id,
        pickup_point_id=row.pickup_point_id,
        product_name=row.product_name,
        decision=row.status,
        automatic=automatic,
        note=row.decision_note,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )


async def answer(
    session: AsyncSession, actor: Actor, return_id: int, data: ReturnAnswerIn
) -> ReturnRequest:
    """The merchant approves or rejects (with a reason) within the answer window."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_ANSWER)
    row = await _locked(session, policies.merchant_returns(organisation_id), return_id)
    if row.status != ReturnStatus.REQUESTED:
        raise Conflict(N_("This return was already answered."), code="already_answered")
    now = clock.now()
    if now >= row.answer_due_at:
        raise Conflict(
            N_("The time to answer has passed: the return is approved automatically."),
            code="answer_window_closed",
        )
    if not data.approve and not data.note:
        raise ValidationFailed(
            N_("Check the answer."),
            fields={"note": N_("Say why the return is rejected.")},
            code="reason_required",
        )
    row.status = ReturnStatus.APPROVED if data.approve else ReturnStatus.REJECTED
    row.decided_at = now
    row.decided_by_user_id = actor.require_user_id()
    row.decision_note = data.note
    await session.flush()
    outbox.publish(session, _decided(row, automatic=False))
    _audit(session, actor, "protection.return_answered", row, decision=row.status)
    return row


async def approve_unanswered(session: AsyncSession, return_id: int) -> bool:
    """The answer window passed without an answer: the return is approved (conditional, so
    a merchant's answer in the same instant wins or loses cleanly)."""
    now = clock.now()
    moved = await session.scalar(
        update(ReturnRequest)
        .where(
            ReturnRequest.id == return_id,
            ReturnRequest.status == ReturnStatus.REQUESTED,
            ReturnRequest.answer_due_at <= now,
        )
        .values(status=ReturnStatus.APPROVED, decided_at=now, decided_automatically=True)
        .returning(ReturnRequest.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    row = await session.get(ReturnRequest, return_id, populate_existing=True)
    assert row is not None
    outbox.publish(session, _decided(row, automatic=True))
    _audit(session, Actor.for_system(), "protection.return_approved_automatically", row)
    return True


async def receive(
    session: AsyncSession, actor: Actor, return_id: int, data: ReturnReceiptIn
) -> ReturnRequest:
    """The group leader takes the goods back at the point and records their condition (photos
    required when damaged); the refund is due within the rule's days from now."""
    row = await _locked(session, await policies.point_returns(session, actor), return_id)
    return await _record_receipt(session, actor, row, data, ReceivedHow.AT_PICKUP_POINT)


async def collect(
    session: AsyncSession, actor: Actor, return_id: int, data: ReturnReceiptIn
) -> ReturnRequest:
    """The merchant collects the goods from the resident instead (CRPL art. 25: "or the
    merchant collects") and records their condition and photos as a leader would; the refund
    clock runs from this receipt as from one at the pickup point."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_ANSWER)
    row = await _locked(session, policies.merchant_returns(organisation_id), return_id)
    return await _record_receipt(session, actor, row, data, ReceivedHow.MERCHANT_COLLECTED)


def _may_receive(actor: Actor, row: ReturnRequest) -> None:
    if row.user_id == actor.require_user_id():
        # Receiving one's own purchase would start the merchant's refund clock alone.
        raise Forbidden(N_("Another person must receive your own return."), code="own_return")
    if row.status != ReturnStatus.APPROVED:
        raise Conflict(N_("This return is not waiting for the goods."), code="not_approved")


async def _record_receipt(
    session: AsyncSession,
    actor: Actor,
    row: ReturnRequest,
    data: ReturnReceiptIn,
    how: ReceivedHow,
) -> ReturnRequest:
    _may_receive(actor, row)
    user_id = actor.require_user_id()
    photos = list(dict.fromkeys(data.photo_file_ids))
    if set(photos) - await files.owned_file_ids(session, user_id, photos):
        raise ValidationFailed(
            N_("Check the receipt."),
            fields={"photo_file_ids": N_("Attach photos you uploaded.")},
            code="photo_not_found",
        )
    if data.condition == GoodsCondition.DAMAGED and not photos:
        raise ValidationFailed(
            N_("Check the receipt."),
            fields={"photo_file_ids": N_("Attach a photo of the damage.")},
            code="photo_required",
        )
    version = await _version(session, row.rule_id, row.rule_version)
    now = clock.now()
    row.status = ReturnStatus.RECEIVED
    row.received_at = now
    row.received_by_user_id = user_id
    row.received_how = how
    row.condition = data.condition
    row.condition_note = data.note
    row.photo_file_ids = photos
    row.refund_due_at = now + timedelta(days=int(version["refund_days"]))
    await session.flush()
    await outbox.schedule(
        session,
        ReturnRefundDue(return_id=row.id),
        row.refund_due_at,
        dedupe_key=f"return-refund-{row.id}",
    )
    outbox.publish(
        session,
        ReturnReceived(
            return_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            product_name=row.product_name,
            condition=data.condition,
            refund_due_at=row.refund_due_at,
            received_how=how,
        ),
    )
    _audit(
        session,
        actor,
        "protection.return_received",
        row,
        condition=data.condition,
        received_how=how,
        photos=len(photos),
    )
    return row


async def add_photo(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    return_id: int,
    data: bytes,
    *,
    filename: str,
) -> int:
    """The leader photographs goods brought back (an image, checked like every upload, its
    metadata stripped); kept private for the leader and the merchant the goods go back to (the
    resident sees them through their return). The file's id, for the receipt."""
    row = await _locked(session, await policies.point_returns(session, actor), return_id)
    return await _store_photo(session, actor, file_store, row, data, filename=filename)


async def add_collection_photo(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    return_id: int,
    data: bytes,
    *,
    filename: str,
) -> int:
    """The merchant photographs goods it collected; kept for the merchant (and shown to the
    resident through their return). The file's id, for the receipt."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_ANSWER)
    row = await _locked(session, policies.merchant_returns(organisation_id), return_id)
    return await _store_photo(session, actor, file_store, row, data, filename=filename)


async def _store_photo(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    row: ReturnRequest,
    data: bytes,
    *,
    filename: str,
) -> int:
    _may_receive(actor, row)
    if row.photos_uploaded >= MAX_UPLOADS:
        limit = Message(N_("At most {count} photos per return."), {"count": MAX_UPLOADS})
        raise ValidationFailed(limit, fields={"file": limit}, code="photo_limit_reached")
    row.photos_uploaded += 1  # the row is locked: parallel uploads count one after the other
    stored = await files.store(
        session,
        actor,
        file_store,
        data,
        filename=filename,
        purpose=PHOTO_PURPOSE,
        allowed=files.IMAGE_TYPES,
        kept_for_organisation=row.organisation_id,
        shown_to_others=True,  # the resident sees the receipt photos
    )
    return stored.id


async def _version(session: AsyncSession, rule_id: str, version: int) -> dict[str, Any]:
    """The values of the version a return recorded (the one its later steps apply)."""
    for row in await rules.all_versions(session):
        if row.rule_id == rule_id and row.version == version:
            return dict(row.values)
    raise rules.RuleMissing(f"rule {rule_id!r} version {version} is not on file")


async def refund(session: AsyncSession, actor: Actor, return_id: int) -> ReturnRequest:
    """The merchant refunds goods received back, through group buying (settlement and the
    leader's commission reversed, the ledger follows). Idempotent: a refunded return is
    answered as it is, never paid twice (the return row is locked, its status moves once, and
    the payment's idempotency key names the return)."""
    # Money goes out: the refund permission (owners), as for every merchant refund.
    organisation_id = policies.acting_merchant(actor, PAYMENTS_REFUND)
    row = await _locked(session, policies.merchant_returns(organisation_id), return_id)
    if row.status == ReturnStatus.REFUNDED:
        return row
    if row.status != ReturnStatus.RECEIVED:
        raise Conflict(
            N_("Refund a return once the goods were received back."), code="not_received"
        )
    paid: lines.UnitsRefunded | live_lines.UnitsRefunded | None
    if row.live_order_id is not None:
        paid = await live_lines.refund_returned_units(
            session,
            row.live_order_id,
            row.quantity,
            note=f"return #{row.id}",
            key_prefix=f"return-{row.id}",
        )
    else:
        assert row.order_line_id is not None  # a return names exactly one source
        paid = await lines.refund_returned_units(
            session,
            row.order_line_id,
            row.quantity,
            note=f"return #{row.id}",
            key_prefix=f"return-{row.id}",
        )
    if paid is None:
        raise Conflict(N_("These units were refunded already."), code="units_already_refunded")
    now = clock.now()
    assert row.refund_due_at is not None
    overdue = now > row.refund_due_at
    row.status = ReturnStatus.REFUNDED
    row.refunded_at = now
    row.refunded_fen = paid.amount_fen
    row.commission_reversed_fen = paid.commission_reversed_fen
    row.refund_overdue = row.refund_overdue or overdue
    await session.flush()
    outbox.publish(
        session,
        ReturnRefunded(
            return_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            product_name=row.product_name,
            amount_fen=paid.amount_fen,
            commission_reversed_fen=paid.commission_reversed_fen,
            overdue=row.refund_overdue,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
        ),
    )
    _audit(
        session,
        actor,
        "protection.return_refunded",
        row,
        amount_fen=paid.amount_fen,
        commission_reversed_fen=paid.commission_reversed_fen,
        overdue=row.refund_overdue,
    )
    return row


async def refuse_refund(
    session: AsyncSession, actor: Actor, return_id: int, data: ReturnRefusalIn
) -> ReturnRequest:
    """The merchant refuses to refund goods the receipt recorded as damaged by the resident
    (CRPL art. 25: returned goods must be intact; opening them to inspect is allowed), with a
    reason the resident is told; they may complain. Only a damaged receipt allows it."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_ANSWER)
    row = await _locked(session, policies.merchant_returns(organisation_id), return_id)
    if row.status != ReturnStatus.RECEIVED:
        raise Conflict(
            N_("Only goods received back and not yet refunded can be refused a refund."),
            code="not_received",
        )
    if row.condition != GoodsCondition.DAMAGED:
        raise Conflict(N_("The goods were received intact: the refund is due."), code="not_damaged")
    reason = data.reason.strip()
    if not reason:
        raise ValidationFailed(
            N_("Check the refusal."),
            fields={"reason": N_("Say why the damage is the resident's.")},
            code="reason_required",
        )
    row.status = ReturnStatus.REFUND_REFUSED
    row.refused_at = clock.now()
    row.refused_by_user_id = actor.require_user_id()
    row.refusal_reason = reason
    await session.flush()
    outbox.publish(
        session,
        ReturnRefundRefused(
            return_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            order_id=row.order_id,
            live_order_id=row.live_order_id,
            product_name=row.product_name,
            reason=reason,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
        ),
    )
    _audit(session, actor, "protection.return_refund_refused", row, reason=reason)
    return row


async def flag_refund_overdue(session: AsyncSession, return_id: int) -> bool:
    """The refund deadline passed with the goods received back and nothing refunded: flag the
    return and say so (`ReturnRefundOverdue`), once."""
    now = clock.now()
    moved = await session.scalar(
        update(ReturnRequest)
        .where(
            ReturnRequest.id == return_id,
            ReturnRequest.status == ReturnStatus.RECEIVED,
            ReturnRequest.refund_overdue.is_(False),
            ReturnRequest.refund_due_at <= now,
        )
        .values(refund_overdue=True)
        .returning(ReturnRequest.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    row = await session.get(ReturnRequest, return_id, populate_existing=True)
    assert row is not None
    assert row.refund_due_at is not None
    outbox.publish(
        session,
        ReturnRefundOverdue(
            return_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            product_name=row.product_name,
            refund_due_at=row.refund_due_at,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
        ),
    )
    _audit(session, Actor.for_system(), "protection.return_refund_overdue", row)
    return True


# --- reading ---------------------------------------------------------------------------------


PAGE_SIZE = 20
MAX_PAGE = 10_000


@dataclass(frozen=True)
class ReturnPage:
    """One page of a list of returns (as the review lists page)."""

    rows: list[ReturnRequest]
    page: int
    has_next: bool


async def _paged(session: AsyncSession, query: Select[ReturnRequest], page: int) -> ReturnPage:
    page = max(1, min(page, MAX_PAGE))
    rows = list(await session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return ReturnPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


async def my_returns(session: AsyncSession, actor: Actor, page: int = 1) -> ReturnPage:
    query = policies.own_returns(actor).order_by(ReturnRequest.id.desc())
    return await _paged(session, query, page)


async def access_own_return(session: AsyncSession, actor: Actor, return_id: int) -> ReturnRequest:
    row = await session.scalar(policies.own_returns(actor).where(ReturnRequest.id == return_id))
    if row is None:
        raise NotFound(N_("No such return."), code="return_not_found")
    return row


async def own_return_photo(
    session: AsyncSession, actor: Actor, return_id: int, file_id: int
) -> int:
    """A photo of the resident's own return's receipt (404 for anything else): the resident
    sees what the leader or the merchant recorded, though the file is kept for the merchant."""
    row = await access_own_return(session, actor, return_id)
    if file_id not in {int(f) for f in row.photo_file_ids}:
        raise NotFound(N_("No such file."))
    return file_id


async def returns_to_answer(session: AsyncSession, actor: Actor, page: int = 1) -> ReturnPage:
    """The merchant's returns, those waiting on a clock first, the nearest deadline first."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    deadline = _deadline_column()
    query = policies.merchant_returns(organisation_id).order_by(
        deadline.is_(None), deadline, ReturnRequest.id.desc()
    )
    return await _paged(session, query, page)


async def returns_at_my_points(session: AsyncSession, actor: Actor, page: int = 1) -> ReturnPage:
    """Returns to receive (approved) first, then those received, at the points I lead."""
    query = (await policies.point_returns(session, actor)).where(
        ReturnRequest.status.in_((ReturnStatus.APPROVED, ReturnStatus.RECEIVED))
    )
    query = query.order_by((ReturnRequest.status != ReturnStatus.APPROVED), ReturnRequest.id.desc())
    return await _paged(session, query, page)


async def access_merchant_return(
    session: AsyncSession, actor: Actor, return_id: int
) -> ReturnRequest:
    """One of the merchant's returns (404 for another merchant's, as for a missing one)."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    row = await session.scalar(
        policies.merchant_returns(organisation_id).where(ReturnRequest.id == return_id)
    )
    if row is None:
        raise NotFound(N_("No such return."), code="return_not_found")
    return row


async def access_point_return(session: AsyncSession, actor: Actor, return_id: int) -> ReturnRequest:
    """A return at a point the actor leads (404 otherwise)."""
    query = await policies.point_returns(session, actor)
    row = await session.scalar(query.where(ReturnRequest.id == return_id))
    if row is None:
        raise NotFound(N_("No such return."), code="return_not_found")
    return row


async def own_collected_line(
    session: AsyncSession, actor: Actor, line_id: int
) -> lines.ReturnableLine:
    """The resident's own order line, for the request form (404 for anyone else's)."""
    line = await lines.collected_line(session, line_id, user_id=actor.require_user_id())
    if line is None:
        raise NotFound(N_("No such order line."), code="line_not_found")
    return line


async def own_received_live_order(
    session: AsyncSession, actor: Actor, order_id: int
) -> live_lines.ReturnableOrder:
    """The resident's own live order, for the request form (404 for anyone else's)."""
    order = await live_lines.received_order(session, order_id, user_id=actor.require_user_id())
    if order is None:
        raise NotFound(N_("No such live order."), code="live_order_not_found")
    return order
