"""Quality claims on collected goods, refunded without return (docs/protection-claims.md):
a fresh-produce quality problem within the rule's hours of pickup (platform rule), or
defective goods (CRPL art. 24) within the rule's own days, not limited by the seven-day
no-reason window. The resident asks for the whole price of the units or part of it, with a
description and photos; the merchant upholds (in full or in part) or rejects with a reason
within the rule's hours, else the claim goes to the platform; the resident may take a
rejection to the platform; an operator decides escalated claims. An upheld claim is refunded
through group buying at once (settlement and the leader's commission reversed in proportion),
or, for a live order, through live selling (`live.lines`, money back on the order's intent).

Every step names the rule version it applies: the claim records the version in force, the
decisions apply that one. Units are held against the line (`claimed_qty`) from the claim until
it is rejected; the line row is locked while a claim is checked and refunded, so two claims,
or a claim and a return, never cover the same units nor refund more than was paid. A live
order's units are held by its claims' rows themselves (those in a holding status), counted
under the live order's row lock, which its returns take too.

Claim patterns far above the community's are flagged for an operator, never punished
automatically; the operator confirms or dismisses the flag with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import (
    PAYMENTS_REFUND,
    PROTECTION_CLAIMS_DECIDE,
    PROTECTION_CLAIMS_READ,
    Actor,
    ensure,
)
from linli.community import points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import (
    ClaimAbuseConfirmed,
    ClaimAbuseFlagged,
    QualityClaimDecided,
    QualityClaimEscalated,
    QualityClaimFiled,
    QualityClaimRefunded,
)
from linli.files import service as files
from linli.groupbuy import lines
from linli.i18n import N_, Message
from linli.jobs import ClaimDecisionDue
from linli.live import lines as live_lines
from linli.protection import claim_policies as policies
from linli.protection.claim_models import (
    HOLDING_STATUSES,
    ClaimAbuseFlag,
    ClaimOutcome,
    ClaimReason,
    ClaimStatus,
    Decider,
    EscalationCause,
    FlagStatus,
    QualityClaim,
)
from linli.protection.claim_schemas import ClaimDecisionIn, ClaimEscalationIn, ClaimIn, FlagReviewIn
from linli.protection.return_models import OPEN_STATUSES as OPEN_RETURNS
from linli.protection.return_models import ReturnRequest
from linli.rules import service as rules

RULE = "consumer.quality_claim"
PHOTO_PURPOSE = "claim_photo"
BP = 10_000


def is_fresh(values: dict[str, Any], exclusion: str | None) -> bool:
    """Fresh produce, as the rule maps it onto this catalogue (the campaign item's stored
    kind of goods: a storage class or a category)."""
    if exclusion is None:
        return False
    kind, _, code = exclusion.partition(":")
    if kind == "storage":
        return code in values.get("fresh_storage_classes", [])
    if kind == "category":
        return code in values.get("fresh_categories", [])
    return False


def is_fresh_goods(
    values: dict[str, Any], storage_class: str | None, category_codes: Sequence[str]
) -> bool:
    """Fresh produce by the same classification, for goods known by their storage class and
    categories (a live order's goods)."""
    if storage_class and storage_class in values.get("fresh_storage_classes", []):
        return True
    fresh = set(values.get("fresh_categories", []))
    return any(code in fresh for code in category_codes)


def claim_by(values: dict[str, Any], reason: str, picked_up_at: datetime) -> datetime:
    """The end of the claim window: hours from pickup for fresh produce, days for defects."""
    if reason == ClaimReason.FRESH_QUALITY:
        return picked_up_at + timedelta(hours=int(values["fresh_hours"]))
    return picked_up_at + timedelta(days=int(values["defect_days"]))


def deadline_of(row: QualityClaim) -> datetime | None:
    """What the next step waits for, until when: the merchant's decision, then the resident's
    escalation of a rejection."""
    if row.status == ClaimStatus.FILED:
        return row.decision_due_at
    if row.status == ClaimStatus.REJECTED:
        return row.escalate_by
    return None


def _deadline_column() -> Any:
    return case(
        (QualityClaim.status == ClaimStatus.FILED, QualityClaim.decision_due_at),
        else_=None,
    )


def _refused(field: str, message: str | Message, code: str) -> ValidationFailed:
    return ValidationFailed(N_("This claim cannot be filed."), fields={field: message}, code=code)


async def _units_held_by_returns(session: AsyncSession, line_id: int) -> int:
    held = await session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.quantity), 0)).where(
            ReturnRequest.order_line_id == line_id, ReturnRequest.status.in_(OPEN_RETURNS)
        )
    )
    return int(held or 0)


async def _version(session: AsyncSession, rule_id: str, version: int) -> dict[str, Any]:
    """The values of the version a claim recorded (the one its decisions apply)."""
    for row in await rules.all_versions(session):
        if row.rule_id == rule_id and row.version == version:
            return dict(row.values)
    raise rules.RuleMissing(f"rule {rule_id!r} version {version} is not on file")


def _audit(
    session: AsyncSession, actor: Actor, action: str, row: QualityClaim, **details: Any
) -> None:
    """An audit entry about a claim, naming the rule version the claim applies."""
    audit.record(
        session,
        actor,
        action,
        target_type="protection_claim",
        target_id=row.id,
        **details,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )


async def rule_values(session: AsyncSession) -> dict[str, Any]:
    """The values of the rule in force (for the claim form's windows)."""
    return dict((await rules.in_force(session, RULE)).values)


# --- what a claim is of -----------------------------------------------------------------------


@dataclass(frozen=True)
class Claimable:
    """What a claim is of: a collected group-buy order line (`line_id`, with its order and
    pickup point) or a received live order (`live_order_id`), as a claim needs it."""

    user_id: int
    organisation_id: int
    product_name: str
    unit_price_fen: int
    received_qty: int  # collected (group buy) or received (live order)
    returned_qty: int
    claimed_qty: int  # held by claims
    refundable_fen: int
    received_at: datetime | None
    storage_class: str | None
    category_codes: tuple[str, ...]
    return_exclusion: str | None  # a group-buy line's stored kind of goods
    line_id: int | None = None
    order_id: int | None = None
    pickup_point_id: int | None = None
    live_order_id: int | None = None

    @property
    def field(self) -> str:
        return "live_order_id" if self.live_order_id is not None else "line_id"

    def fresh(self, values: dict[str, Any]) -> bool:
        if self.live_order_id is not None:
            return is_fresh_goods(values, self.storage_class, self.category_codes)
        return is_fresh(values, self.return_exclusion)


async def live_units_claimed(
    session: AsyncSession, live_order_id: int, *, besides: int | None = None
) -> int:
    """Units of a live order held by its claims (filed, escalated or refunded); `besides`:
    leave one claim out."""
    query = select(func.coalesce(func.sum(QualityClaim.quantity), 0)).where(
        QualityClaim.live_order_id == live_order_id,
        QualityClaim.status.in_(HOLDING_STATUSES),
    )
    if besides is not None:
        query = query.where(QualityClaim.id != besides)
    return int(await session.scalar(query) or 0)


async def _live_units_held_by_returns(session: AsyncSession, live_order_id: int) -> int:
    held = await session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.quantity), 0)).where(
            ReturnRequest.live_order_id == live_order_id, ReturnRequest.status.in_(OPEN_RETURNS)
        )
    )
    return int(held or 0)


async def own_received_live_order(
    session: AsyncSession, actor: Actor, order_id: int, *, lock: bool = False
) -> live_lines.ReturnableOrder:
    """The resident's own live order (404 for anyone else's, as for a missing one)."""
    order = await live_lines.received_order(
        session, order_id, user_id=actor.require_user_id(), lock=lock
    )
    if order is None:
        raise NotFound(N_("No such live order."), code="live_order_not_found")
    return order


async def _claimable(
    session: AsyncSession,
    actor: Actor,
    *,
    line_id: int | None,
    live_order_id: int | None,
    lock: bool = False,
) -> Claimable:
    """The resident's own line or live order (404 otherwise); `lock`: its row held until the
    transaction ends, so claims and returns of its units are answered one after the other."""
    if live_order_id is not None:
        order = await own_received_live_order(session, actor, live_order_id, lock=lock)
        total = order.unit_price_fen * order.received_qty
        return Claimable(
            user_id=order.user_id,
            organisation_id=order.organisation_id,
            product_name=order.product_name,
            unit_price_fen=order.unit_price_fen,
            received_qty=order.received_qty,
            returned_qty=order.returned_qty,
            claimed_qty=await live_units_claimed(session, order.order_id),
            refundable_fen=max(total - order.refunded_fen, 0),
            received_at=order.received_at,
            storage_class=order.storage_class,
            category_codes=order.category_codes,
            return_exclusion=None,
            pickup_point_id=order.pickup_point_id,
            live_order_id=order.order_id,
        )
    if line_id is None:
        raise NotFound(N_("No such order line."), code="line_not_found")
    line = await own_collected_line(session, actor, line_id, lock=lock)
    return Claimable(
        user_id=line.user_id,
        organisation_id=line.organisation_id,
        product_name=line.product_name,
        unit_price_fen=line.unit_price_fen,
        received_qty=line.picked_qty,
        returned_qty=line.returned_qty,
        claimed_qty=line.claimed_qty,
        refundable_fen=line.refundable_fen,
        received_at=line.received_at,
        storage_class=None,
        category_codes=(),
        return_exclusion=line.return_exclusion,
        line_id=line.line_id,
        order_id=line.order_id,
        pickup_point_id=line.pickup_point_id,
    )


def _not_received(source: Claimable) -> ValidationFailed:
    if source.live_order_id is not None:
        return _refused(source.field, N_("This order has not been received yet."), "not_received")
    return _refused(source.field, N_("Nothing of this line was collected."), "not_collected")


async def _community_of(session: AsyncSession, source: Claimable) -> int | None:
    """The community a claim's pattern is measured in: the pickup point's; for a shipped
    live order, the resident's home community (None without one)."""
    point_id = source.pickup_point_id
    if point_id is None:
        found = await session.scalar(select(points.home_point_id(source.user_id)))
        point_id = int(found) if found is not None else None
    if point_id is None:
        return None
    point = await points.point(session, point_id)
    return point.community_id if point is not None else None


async def _hold_units(session: AsyncSession, row: QualityClaim) -> bool:
    """Hold a claim's units again (a rejection taken to the platform): a line's by its
    conditional UPDATE; a live order's under its row lock, counting what its other claims
    and its returns hold."""
    if row.live_order_id is None:
        assert row.order_line_id is not None  # a claim names exactly one source
        return await lines.hold_claimed_units(session, row.order_line_id, row.quantity)
    order = await live_lines.received_order(session, row.live_order_id, lock=True)
    if order is None:
        return False
    available = (
        order.received_qty
        - order.returned_qty
        - await live_units_claimed(session, order.order_id, besides=row.id)
        - await _live_units_held_by_returns(session, order.order_id)
    )
    return row.quantity <= available


async def _release_units(session: AsyncSession, row: QualityClaim) -> None:
    """A rejected claim lets its units go: a line's `claimed_qty` shrinks; a live order's
    units are held by the claim's status alone, so nothing more moves."""
    if row.live_order_id is None:
        assert row.order_line_id is not None
        await lines.release_claimed_units(session, row.order_line_id, row.quantity)


# --- filing ----------------------------------------------------------------------------------


async def own_collected_line(
    session: AsyncSession, actor: Actor, line_id: int, *, lock: bool = False
) -> lines.ReturnableLine:
    """The resident's own order line (404 for anyone else's, as for a missing one)."""
    line = await lines.collected_line(session, line_id, user_id=actor.require_user_id(), lock=lock)
    if line is None:
        raise NotFound(N_("No such order line."), code="line_not_found")
    return line


async def add_photo(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    line_id: int | None,
    data: bytes,
    *,
    filename: str,
    live_order_id: int | None = None,
) -> int:
    """A photo of the problem, for a claim on one of the resident's collected lines or
    received live orders (exactly one named): an image, checked like every upload, its
    metadata stripped (the merchant and the platform will see it). The file's id, for the
    claim."""
    if (line_id is None) == (live_order_id is None):
        raise ValidationFailed(
            N_("Name either the order line or the live order."), code="one_source"
        )
    line = await _claimable(session, actor, line_id=line_id, live_order_id=live_order_id)
    if line.received_at is None or line.received_qty == 0:
        raise _not_received(line)
    stored = await files.store(
        session,
        actor,
        file_store,
        data,
        filename=filename,
        purpose=PHOTO_PURPOSE,
        allowed=files.IMAGE_TYPES,
        kept_for_organisation=line.organisation_id,
        shown_to_others=True,
    )
    return stored.id


async def file_claim(session: AsyncSession, actor: Actor, data: ClaimIn) -> QualityClaim:
    """A resident claims for units of a line they collected, refund without return."""
    user_id = actor.require_user_id()
    line = await _claimable(
        session, actor, line_id=data.line_id, live_order_id=data.live_order_id, lock=True
    )
    if line.received_at is None or line.received_qty == 0:
        raise _not_received(line)
    rule = await rules.in_force(session, RULE)
    values = rule.values
    if data.reason_code == ClaimReason.FRESH_QUALITY and not line.fresh(values):
        raise _refused(
            "reason_code",
            N_("This is not fresh produce: claim for defective goods instead."),
            "not_fresh_produce",
        )
    now = clock.now()
    closes = claim_by(values, data.reason_code, line.received_at)
    if now > closes:
        raise _refused(
            line.field,
            Message(
                N_("The time to claim ended at {moment}."),
                {"moment": closes.astimezone(clock.LOCAL).strftime("%Y-%m-%d %H:%M")},
            ),
            "claim_window_closed",
        )
    held_by_returns = (
        await _units_held_by_returns(session, line.line_id)
        if line.line_id is not None
        else await _live_units_held_by_returns(session, line.live_order_id or 0)
    )
    available = line.received_qty - line.returned_qty - line.claimed_qty - held_by_returns
    if data.quantity > available:
        raise _refused(
            "quantity",
            N_("More than you collected and have not yet returned or claimed for."),
            "claim_exceeds_collected",
        )
    cap = min(data.quantity * line.unit_price_fen, line.refundable_fen)
    if cap < 1:
        raise _refused("amount_fen", N_("Nothing is left to refund on this line."), "nothing_left")
    requested = cap if data.amount_fen is None else data.amount_fen
    if requested > cap:
        raise _refused(
            "amount_fen",
            Message(N_("At most {cap} fen for these units."), {"cap": cap}),
            "amount_above_cap",
        )
    photos = list(dict.fromkeys(data.photo_file_ids))
    if not photos:
        raise _refused("photo_file_ids", N_("Attach at least one photo."), "photo_required")
    if set(photos) - await files.owned_file_ids_for(session, user_id, photos, PHOTO_PURPOSE):
        raise _refused(
            "photo_file_ids", N_("Attach photos you uploaded for a claim."), "photo_not_found"
        )
    # A line's units by its conditional UPDATE; a live order's are held by this claim's row,
    # counted above under the order's row lock.
    if line.line_id is not None and not await lines.hold_claimed_units(
        session, line.line_id, data.quantity
    ):
        raise _refused(
            "quantity",
            N_("More than you collected and have not yet returned or claimed for."),
            "claim_exceeds_collected",
        )
    row = QualityClaim(
        user_id=user_id,
        organisation_id=line.organisation_id,
        order_id=line.order_id,
        order_line_id=line.line_id,
        pickup_point_id=line.pickup_point_id,
        community_id=await _community_of(session, line),
        live_order_id=line.live_order_id,
        product_name=line.product_name,
        quantity=data.quantity,
        unit_price_fen=line.unit_price_fen,
        reason_code=data.reason_code,
        description=data.description,
        photo_file_ids=photos,
        requested_fen=requested,
        status=ClaimStatus.FILED,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        picked_up_at=line.received_at,
        claim_by=closes,
        created_at=now,
        decision_due_at=now + timedelta(hours=int(values["decision_hours"])),
    )
    session.add(row)
    await session.flush()
    await outbox.schedule(
        session,
        ClaimDecisionDue(claim_id=row.id),
        row.decision_due_at,
        dedupe_key=f"claim-decision-{row.id}",
    )
    outbox.publish(
        session,
        QualityClaimFiled(
            claim_id=row.id,
            user_id=user_id,
            organisation_id=row.organisation_id,
            order_id=row.order_id,
            order_line_id=row.order_line_id,
            pickup_point_id=row.pickup_point_id,
            product_name=row.product_name,
            quantity=row.quantity,
            reason_code=row.reason_code,
            requested_fen=row.requested_fen,
            decision_due_at=row.decision_due_at,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            live_order_id=row.live_order_id,
        ),
    )
    _audit(
        session,
        actor,
        "protection.claim_filed",
        row,
        line_id=row.order_line_id,
        live_order_id=row.live_order_id,
        quantity=row.quantity,
        reason_code=row.reason_code,
        requested_fen=row.requested_fen,
        photos=len(photos),
    )
    await _check_pattern(session, row, rule.rule_id, rule.version, values)
    return row


# --- deciding --------------------------------------------------------------------------------


async def _locked(session: AsyncSession, query: Any, claim_id: int) -> QualityClaim:
    row = await session.scalar(
        query.where(QualityClaim.id == claim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(N_("No such claim."), code="claim_not_found")
    assert isinstance(row, QualityClaim)
    return row


def _amount(row: QualityClaim, data: ClaimDecisionIn) -> int:
    amount = row.requested_fen if data.amount_fen is None else data.amount_fen
    if amount > row.requested_fen:
        raise ValidationFailed(
            N_("Check the decision."),
            fields={
                "amount_fen": Message(
                    N_("At most the {requested} fen asked for."), {"requested": row.requested_fen}
                )
            },
            code="amount_above_claim",
        )
    return amount


def _decided(row: QualityClaim) -> QualityClaimDecided:
    assert row.outcome is not None
    assert row.decided_by is not None
    return QualityClaimDecided(
        claim_id=row.id,
        user_id=row.user_id,
        organisation_id=row.organisation_id,
        product_name=row.product_name,
        outcome=row.outcome,
        amount_fen=row.refunded_fen,
        decided_by=row.decided_by,
        note=row.decision_note,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )


async def _uphold(
    session: AsyncSession, actor: Actor, row: QualityClaim, amount: int, decider: Decider, note: str
) -> None:
    """Refund `amount` without return, through group buying (or live selling, for a live
    order), and record the decision."""
    paid: lines.UnitsRefunded | live_lines.UnitsRefunded | None
    if row.live_order_id is not None:
        paid = await live_lines.refund_claimed_amount(
            session,
            row.live_order_id,
            amount,
            note=f"quality claim #{row.id}",
            key=f"claim-{row.id}",
        )
    else:
        assert row.order_line_id is not None  # a claim names exactly one source
        paid = await lines.refund_claimed_amount(
            session,
            row.order_line_id,
            amount,
            note=f"quality claim #{row.id}",
            key=f"claim-{row.id}",
        )
    if paid is None:
        raise Conflict(
            N_("Less than this is left to refund on the line."), code="nothing_left_to_refund"
        )
    now = clock.now()
    row.status = ClaimStatus.REFUNDED
    row.outcome = ClaimOutcome.UPHELD if amount == row.requested_fen else ClaimOutcome.PARTLY
    row.decided_by = decider
    row.decided_at = now
    row.decided_by_user_id = actor.require_user_id()
    row.decision_note = note
    row.refunded_at = now
    row.refunded_fen = paid.amount_fen
    row.commission_reversed_fen = paid.commission_reversed_fen
    await session.flush()
    outbox.publish(session, _decided(row))
    outbox.publish(
        session,
        QualityClaimRefunded(
            claim_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            order_id=row.order_id,
            product_name=row.product_name,
            amount_fen=paid.amount_fen,
            commission_reversed_fen=paid.commission_reversed_fen,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            live_order_id=row.live_order_id,
        ),
    )
    _audit(
        session,
        actor,
        "protection.claim_upheld",
        row,
        decided_by=decider,
        outcome=row.outcome,
        amount_fen=paid.amount_fen,
        commission_reversed_fen=paid.commission_reversed_fen,
    )


def _reason_required(note: str) -> None:
    if not note.strip():
        raise ValidationFailed(
            N_("Check the decision."),
            fields={"note": N_("Say why the claim is rejected.")},
            code="reason_required",
        )


async def decide(
    session: AsyncSession, actor: Actor, claim_id: int, data: ClaimDecisionIn
) -> QualityClaim:
    """The merchant upholds (the amount asked for, or part of it: refunded at once) or rejects
    with a reason, within the decision window."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_CLAIMS_DECIDE)
    row = await _locked(session, policies.merchant_claims(organisation_id), claim_id)
    if row.status != ClaimStatus.FILED:
        raise Conflict(N_("This claim was already decided."), code="already_decided")
    now = clock.now()
    if now >= row.decision_due_at:
        raise Conflict(
            N_("The time to decide has passed: the claim goes to the platform."),
            code="decision_window_closed",
        )
    if data.uphold:
        # Money goes out: the refund permission (owners), as for every merchant refund.
        ensure(actor, PAYMENTS_REFUND)
        await _uphold(session, actor, row, _amount(row, data), Decider.MERCHANT, data.note)
        return row
    _reason_required(data.note)
    values = await _version(session, row.rule_id, row.rule_version)
    row.status = ClaimStatus.REJECTED
    row.outcome = ClaimOutcome.REJECTED
    row.decided_by = Decider.MERCHANT
    row.decided_at = now
    row.decided_by_user_id = actor.require_user_id()
    row.decision_note = data.note
    row.merchant_note = data.note
    row.escalate_by = now + timedelta(days=int(values["escalate_days"]))
    await _release_units(session, row)
    await session.flush()
    outbox.publish(session, _decided(row))
    _audit(session, actor, "protection.claim_rejected", row, decided_by=Decider.MERCHANT)
    return row


def _escalated(row: QualityClaim) -> QualityClaimEscalated:
    assert row.escalation_cause is not None
    return QualityClaimEscalated(
        claim_id=row.id,
        user_id=row.user_id,
        organisation_id=row.organisation_id,
        product_name=row.product_name,
        cause=row.escalation_cause,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )


async def escalate_undecided(session: AsyncSession, claim_id: int) -> bool:
    """The decision window passed without a decision: the platform decides (conditional, so
    a merchant's decision in the same instant wins or loses cleanly)."""
    now = clock.now()
    moved = await session.scalar(
        update(QualityClaim)
        .where(
            QualityClaim.id == claim_id,
            QualityClaim.status == ClaimStatus.FILED,
            QualityClaim.decision_due_at <= now,
        )
        .values(
            status=ClaimStatus.ESCALATED,
            escalated_at=now,
            escalation_cause=EscalationCause.TIMEOUT,
        )
        .returning(QualityClaim.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    row = await session.get(QualityClaim, claim_id, populate_existing=True)
    assert row is not None
    outbox.publish(session, _escalated(row))
    _audit(session, Actor.for_system(), "protection.claim_escalated", row, cause="timeout")
    return True


async def escalate(
    session: AsyncSession, actor: Actor, claim_id: int, data: ClaimEscalationIn
) -> QualityClaim:
    """The resident takes the merchant's rejection to the platform, within the rule's days."""
    row = await _locked(session, policies.own_claims(actor), claim_id)
    if row.status != ClaimStatus.REJECTED:
        raise Conflict(N_("Only a rejected claim can be escalated."), code="not_rejected")
    now = clock.now()
    assert row.escalate_by is not None
    if now > row.escalate_by:
        raise Conflict(N_("The time to escalate has passed."), code="escalation_window_closed")
    # The units were released with the rejection: held again, if still there.
    if not await _hold_units(session, row):
        raise Conflict(
            N_("These units were returned or claimed for since."), code="units_not_available"
        )
    row.status = ClaimStatus.ESCALATED
    row.escalated_at = now
    row.escalation_cause = EscalationCause.RESIDENT
    row.escalation_note = data.note
    await session.flush()
    outbox.publish(session, _escalated(row))
    _audit(session, actor, "protection.claim_escalated", row, cause="resident")
    return row


async def decide_escalated(
    session: AsyncSession, actor: Actor, claim_id: int, data: ClaimDecisionIn
) -> QualityClaim:
    """An operator decides an escalated claim: upheld (refunded at once) or rejected, final."""
    row = await _locked(session, policies.platform_claims(actor), claim_id)
    if row.status != ClaimStatus.ESCALATED:
        raise Conflict(N_("This claim is not waiting for the platform."), code="not_escalated")
    if data.uphold:
        await _uphold(session, actor, row, _amount(row, data), Decider.PLATFORM, data.note)
        return row
    _reason_required(data.note)
    row.status = ClaimStatus.CLOSED
    row.outcome = ClaimOutcome.REJECTED
    row.decided_by = Decider.PLATFORM
    row.decided_at = clock.now()
    row.decided_by_user_id = actor.require_user_id()
    row.decision_note = data.note
    await _release_units(session, row)
    await session.flush()
    outbox.publish(session, _decided(row))
    _audit(session, actor, "protection.claim_rejected", row, decided_by=Decider.PLATFORM)
    return row


# --- abuse patterns --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """A resident's claims against their community's in the look-back window."""

    claims: int
    collected_lines: int
    resident_rate_bp: int
    community_claims: int
    community_lines: int
    community_rate_bp: int

    def holds(self, values: dict[str, Any]) -> bool:
        return self.claims >= int(values["abuse_min_claims"]) and (
            self.resident_rate_bp >= int(values["abuse_rate_multiple"]) * self.community_rate_bp
        )


def _rate(claims: int, collected: int) -> int:
    return claims * BP // max(collected, 1)


async def pattern_of(
    session: AsyncSession, user_id: int, community_id: int, lookback_days: int
) -> Pattern:
    since = clock.now() - timedelta(days=lookback_days)
    mine = int(
        await session.scalar(
            select(func.count(QualityClaim.id)).where(
                QualityClaim.user_id == user_id, QualityClaim.created_at >= since
            )
        )
        or 0
    )
    theirs = int(
        await session.scalar(
            select(func.count(QualityClaim.id)).where(
                QualityClaim.community_id == community_id, QualityClaim.created_at >= since
            )
        )
        or 0
    )
    # Group-buy lines collected and live orders received: what a claim can be about.
    my_lines = await lines.collected_lines_count(
        session, since, user_id=user_id
    ) + await live_lines.received_orders_count(session, since, user_id=user_id)
    point_ids = await points.point_ids_of_community(session, community_id)
    their_lines = await lines.collected_lines_count(
        session, since, point_ids=point_ids
    ) + await live_lines.received_orders_count(session, since, point_ids=point_ids)
    return Pattern(
        claims=mine,
        collected_lines=my_lines,
        resident_rate_bp=_rate(mine, my_lines),
        community_claims=theirs,
        community_lines=their_lines,
        community_rate_bp=_rate(theirs, their_lines),
    )


async def _check_pattern(
    session: AsyncSession, row: QualityClaim, rule_id: str, version: int, values: dict[str, Any]
) -> ClaimAbuseFlag | None:
    """After a claim: flag the resident when the rule's pattern holds (once while a flag is
    open). Nothing else happens to them: an operator looks at it. A claim with no community
    (a shipped live order of a resident with no home) has nothing to be compared with."""
    if row.community_id is None:
        return None
    lookback = int(values["abuse_lookback_days"])
    found = await pattern_of(session, row.user_id, row.community_id, lookback)
    if not found.holds(values):
        return None
    already = await session.scalar(
        select(ClaimAbuseFlag.id).where(
            ClaimAbuseFlag.user_id == row.user_id, ClaimAbuseFlag.status == FlagStatus.OPEN
        )
    )
    if already is not None:
        return None
    flag = ClaimAbuseFlag(
        user_id=row.user_id,
        community_id=row.community_id,
        status=FlagStatus.OPEN,
        claims=found.claims,
        collected_lines=found.collected_lines,
        resident_rate_bp=found.resident_rate_bp,
        community_rate_bp=found.community_rate_bp,
        lookback_days=lookback,
        rule_id=rule_id,
        rule_version=version,
        created_at=clock.now(),
    )
    session.add(flag)
    await session.flush()
    outbox.publish(
        session,
        ClaimAbuseFlagged(
            flag_id=flag.id,
            user_id=flag.user_id,
            community_id=flag.community_id,
            claims=flag.claims,
            resident_rate_bp=flag.resident_rate_bp,
            community_rate_bp=flag.community_rate_bp,
            rule_id=rule_id,
            rule_version=version,
        ),
    )
    audit.record(
        session,
        Actor.for_system(),
        "protection.claim_abuse_flagged",
        target_type="protection_claim_flag",
        target_id=flag.id,
        user_id=flag.user_id,
        claims=flag.claims,
        resident_rate_bp=flag.resident_rate_bp,
        community_rate_bp=flag.community_rate_bp,
        rule_id=rule_id,
        rule_version=version,
    )
    return flag


async def review_flag(
    session: AsyncSession, actor: Actor, flag_id: int, data: FlagReviewIn
) -> ClaimAbuseFlag:
    """An operator confirms or dismisses an open flag, with a reason (recorded)."""
    policies.require_platform(actor)
    flag = await session.scalar(
        select(ClaimAbuseFlag)
        .where(ClaimAbuseFlag.id == flag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if flag is None:
        raise NotFound(N_("No such flag."), code="flag_not_found")
    if flag.status != FlagStatus.OPEN:
        raise Conflict(N_("This flag was already reviewed."), code="already_reviewed")
    reason = data.reason.strip()
    if not reason:
        raise ValidationFailed(
            N_("Check the review."), fields={"reason": N_("Give a reason.")}, code="reason_required"
        )
    user_id = actor.require_user_id()
    flag.status = FlagStatus.CONFIRMED if data.confirm else FlagStatus.DISMISSED
    flag.reviewed_at = clock.now()
    flag.reviewed_by_user_id = user_id
    flag.review_reason = reason
    await session.flush()
    if data.confirm:
        outbox.publish(
            session,
            ClaimAbuseConfirmed(
                flag_id=flag.id,
                user_id=flag.user_id,
                operator_user_id=user_id,
                reason=reason,
                rule_id=flag.rule_id,
                rule_version=flag.rule_version,
            ),
        )
    audit.record(
        session,
        actor,
        "protection.claim_abuse_reviewed",
        target_type="protection_claim_flag",
        target_id=flag.id,
        user_id=flag.user_id,
        decision=flag.status,
        reason=reason,
        rule_id=flag.rule_id,
        rule_version=flag.rule_version,
    )
    return flag


# --- reading ---------------------------------------------------------------------------------


async def my_claims(session: AsyncSession, actor: Actor) -> Sequence[QualityClaim]:
    query = policies.own_claims(actor).order_by(QualityClaim.id.desc())
    return (await session.scalars(query)).all()


async def access_own_claim(session: AsyncSession, actor: Actor, claim_id: int) -> QualityClaim:
    row = await session.scalar(policies.own_claims(actor).where(QualityClaim.id == claim_id))
    if row is None:
        raise NotFound(N_("No such claim."), code="claim_not_found")
    return row


async def claims_to_decide(session: AsyncSession, actor: Actor) -> Sequence[QualityClaim]:
    """The merchant's claims, those waiting for its decision first, the nearest deadline
    first."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_CLAIMS_READ)
    deadline = _deadline_column()
    query = policies.merchant_claims(organisation_id).order_by(
        deadline.is_(None), deadline, QualityClaim.id.desc()
    )
    return (await session.scalars(query)).all()


async def access_merchant_claim(session: AsyncSession, actor: Actor, claim_id: int) -> QualityClaim:
    """One of the merchant's claims (404 for another merchant's, as for a missing one)."""
    organisation_id = policies.acting_merchant(actor, PROTECTION_CLAIMS_READ)
    row = await session.scalar(
        policies.merchant_claims(organisation_id).where(QualityClaim.id == claim_id)
    )
    if row is None:
        raise NotFound(N_("No such claim."), code="claim_not_found")
    return row


async def escalated_claims(session: AsyncSession, actor: Actor) -> Sequence[QualityClaim]:
    """Claims waiting for the platform, the oldest escalation first."""
    query = (
        policies.platform_claims(actor)
        .where(QualityClaim.status == ClaimStatus.ESCALATED)
        .order_by(QualityClaim.escalated_at, QualityClaim.id)
    )
    return (await session.scalars(query)).all()


async def access_platform_claim(session: AsyncSession, actor: Actor, claim_id: int) -> QualityClaim:
    row = await session.scalar(policies.platform_claims(actor).where(QualityClaim.id == claim_id))
    if row is None:
        raise NotFound(N_("No such claim."), code="claim_not_found")
    return row


async def flags(
    session: AsyncSession, actor: Actor, *, status: FlagStatus | None = FlagStatus.OPEN
) -> Sequence[ClaimAbuseFlag]:
    policies.require_platform(actor)
    query = select(ClaimAbuseFlag).order_by(ClaimAbuseFlag.id.desc())
    if status is not None:
        query = query.where(ClaimAbuseFlag.status == status)
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class History:
    """A resident's claims as the platform sees them, with their pattern and flags."""

    user_id: int
    claims: Sequence[QualityClaim]
    flags: Sequence[ClaimAbuseFlag]
    pattern: Pattern | None  # in their latest claim's community, over the rule's look-back


async def resident_history(session: AsyncSession, actor: Actor, user_id: int) -> History:
    policies.require_platform(actor)
    claims = list(
        (
            await session.scalars(
                policies.platform_claims(actor)
                .where(QualityClaim.user_id == user_id)
                .order_by(QualityClaim.id.desc())
            )
        ).all()
    )
    flagged = (
        await session.scalars(
            select(ClaimAbuseFlag)
            .where(ClaimAbuseFlag.user_id == user_id)
            .order_by(ClaimAbuseFlag.id.desc())
        )
    ).all()
    pattern = None
    community_id = next((c.community_id for c in claims if c.community_id is not None), None)
    if community_id is not None:
        values = (await rules.in_force(session, RULE)).values
        pattern = await pattern_of(
            session, user_id, community_id, int(values["abuse_lookback_days"])
        )
    return History(user_id=user_id, claims=claims, flags=flagged, pattern=pattern)


async def access_claim(session: AsyncSession, actor: Actor, claim_id: int) -> QualityClaim:
    """The claim if the actor is a party to it (its resident, its merchant, the platform);
    404 for missing and forbidden alike."""
    row = await session.scalar(
        select(QualityClaim).where(QualityClaim.id == claim_id, policies.visible(actor))
    )
    if row is None:
        raise NotFound(N_("No such claim."), code="claim_not_found")
    return row


def photo_of(row: QualityClaim, file_id: int) -> int:
    """One of the claim's photos (404 otherwise); the caller has checked access to the claim."""
    if file_id not in row.photo_file_ids:
        raise NotFound(N_("No such photo."), code="photo_not_found")
    return file_id
