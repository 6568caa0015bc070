"""Consumer protection's part of a resident's personal data (linli.personal_data,
docs/privacy.md): their returns, quality claims, complaints (with the timeline they see) and
reviews for the export; an open return, claim or complaint keeps the account open. Reviews stay
published when the account closes (E-Commerce Law art. 39), the author naming nobody; return,
claim and complaint texts are kept only as part of the transaction records and erased when the
retention period ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.i18n import N_, Message
from linli.protection.claim_models import ClaimStatus, QualityClaim
from linli.protection.complaint_models import Complaint, ComplaintStatus, ComplaintStep, Role
from linli.protection.return_models import OPEN_STATUSES, ReturnRequest
from linli.protection.review_models import Review

OPEN_COMPLAINTS = (ComplaintStatus.FILED, ComplaintStatus.ACCEPTED, ComplaintStatus.IN_MEDIATION)
OPEN_CLAIMS = (ClaimStatus.FILED, ClaimStatus.ESCALATED)


async def export_returns(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(ReturnRequest).where(ReturnRequest.user_id == user_id).order_by(ReturnRequest.id)
    )
    return [
        {
            "id": row.id,
            "order_id": row.order_id,
            "order_line_id": row.order_line_id,
            "live_order_id": row.live_order_id,
            "product_name": row.product_name,
            "quantity": row.quantity,
            "unit_price_fen": row.unit_price_fen,
            "reason_code": row.reason_code,
            "reason_text": row.reason_text,
            "status": row.status,
            "created_at": row.created_at,
            "decided_at": row.decided_at,
            "decision_note": row.decision_note,
            "received_at": row.received_at,
            "condition": row.condition,
            "refunded_at": row.refunded_at,
            "refunded_fen": row.refunded_fen,
            "rule_id": row.rule_id,
            "rule_version": row.rule_version,
        }
        for row in rows
    ]


async def export_claims(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(QualityClaim).where(QualityClaim.user_id == user_id).order_by(QualityClaim.id)
    )
    return [
        {
            "id": row.id,
            "order_id": row.order_id,
            "order_line_id": row.order_line_id,
            "live_order_id": row.live_order_id,
            "product_name": row.product_name,
            "quantity": row.quantity,
            "reason_code": row.reason_code,
            "description": row.description,
            "photo_file_ids": list(row.photo_file_ids),
            "requested_fen": row.requested_fen,
            "status": row.status,
            "created_at": row.created_at,
            "outcome": row.outcome,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
            "decision_note": row.decision_note,
            "escalated_at": row.escalated_at,
            "escalation_note": row.escalation_note,
            "refunded_at": row.refunded_at,
            "refunded_fen": row.refunded_fen,
            "rule_id": row.rule_id,
            "rule_version": row.rule_version,
        }
        for row in rows
    ]


async def export_complaints(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    complaints = (
        await session.scalars(
            select(Complaint).where(Complaint.complainant_user_id == user_id).order_by(Complaint.id)
        )
    ).all()
    steps = (
        await session.scalars(
            select(ComplaintStep)
            .join(Complaint, Complaint.id == ComplaintStep.complaint_id)
            .where(Complaint.complainant_user_id == user_id)
            .order_by(ComplaintStep.id)
        )
    ).all()
    timeline: dict[int, list[dict[str, Any]]] = {}
    for step in steps:
        timeline.setdefault(step.complaint_id, []).append(
            {
                "kind": step.kind,
                "role": step.role,
                "status": step.status,
                "text": step.text,
                "file_id": step.file_id,
                "at": step.at,
            }
        )
    return [
        {
            "id": row.id,
            "target": row.target,
            "order_id": row.order_id,
            "product_name": row.product_name,
            "subject_organisation_id": row.subject_organisation_id,
            "text": row.text,
            "decider": row.decider,
            "status": row.status,
            "outcome": row.outcome,
            "outcome_text": row.outcome_text,
            "refusal_reason": row.refusal_reason,
            "filed_at": row.filed_at,
            "accepted_at": row.accepted_at,
            "decided_at": row.decided_at,
            "escalated_at": row.escalated_at,
            "timeline": timeline.get(row.id, []),
        }
        for row in complaints
    ]


async def export_reviews(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Review).where(Review.user_id == user_id).order_by(Review.id)
    )
    return [
        {
            "id": row.id,
            "order_id": row.order_id,
            "order_line_id": row.order_line_id,
            "product_name": row.product_name,
            "rating": row.rating,
            "text": row.text,
            "photo_file_ids": list(row.photo_file_ids),
            "created_at": row.created_at,
            "reply_text": row.reply_text,
            "replied_at": row.replied_at,
            "hidden": row.hidden_at is not None,
            "hidden_reason": row.hidden_reason,
        }
        for row in rows
    ]


async def open_cases(session: AsyncSession, user_id: int) -> list[Message]:
    returns = await session.scalar(
        select(func.count())
        .select_from(ReturnRequest)
        .where(ReturnRequest.user_id == user_id, ReturnRequest.status.in_(OPEN_STATUSES))
    )
    complaints = await session.scalar(
        select(func.count())
        .select_from(Complaint)
        .where(Complaint.complainant_user_id == user_id, Complaint.status.in_(OPEN_COMPLAINTS))
    )
    claims = await session.scalar(
        select(func.count())
        .select_from(QualityClaim)
        .where(QualityClaim.user_id == user_id, QualityClaim.status.in_(OPEN_CLAIMS))
    )
    found: list[Message] = []
    if returns:
        found.append(
            Message(
                N_("Returns still open: {count}. Wait until they are refunded or rejected."),
                {"count": returns},
            )
        )
    if claims:
        found.append(
            Message(
                N_("Quality claims still open: {count}. Wait until they are decided."),
                {"count": claims},
            )
        )
    if complaints:
        found.append(
            Message(
                N_("Complaints still open: {count}. Wait for their outcome, or withdraw them."),
                {"count": complaints},
            )
        )
    return found


async def last_case(session: AsyncSession, user_id: int) -> datetime | None:
    returned = await session.scalar(
        select(
            func.max(
                func.coalesce(
                    ReturnRequest.refunded_at, ReturnRequest.decided_at, ReturnRequest.created_at
                )
            )
        ).where(ReturnRequest.user_id == user_id)
    )
    complained = await session.scalar(
        select(func.max(func.coalesce(Complaint.decided_at, Complaint.created_at))).where(
            Complaint.complainant_user_id == user_id
        )
    )
    claimed = await session.scalar(
        select(
            func.max(
                func.coalesce(
                    QualityClaim.refunded_at, QualityClaim.decided_at, QualityClaim.created_at
                )
            )
        ).where(QualityClaim.user_id == user_id)
    )
    return max((m for m in (returned, complained, claimed) if m is not None), default=None)


async def erase_case_texts(session: AsyncSession, user_id: int) -> None:
    """At the end of retention: what the resident wrote in returns, claims and complaints."""
    await session.execute(
        update(ReturnRequest).where(ReturnRequest.user_id == user_id).values(reason_text="")
    )
    await session.execute(
        update(QualityClaim)
        .where(QualityClaim.user_id == user_id)
        .values(description="", escalation_note="")
    )
    await session.execute(
        update(Complaint).where(Complaint.complainant_user_id == user_id).values(text="")
    )
    await session.execute(
        update(ComplaintStep)
        .where(ComplaintStep.actor_user_id == user_id, ComplaintStep.role == Role.COMPLAINANT)
        .values(text=None)
    )


async def export_protection(session: AsyncSession, user_id: int) -> dict[str, Any]:
    return {
        "returns": await export_returns(session, user_id),
        "quality_claims": await export_claims(session, user_id),
        "complaints": await export_complaints(session, user_id),
        "reviews": await export_reviews(session, user_id),
    }


personal_data.provide_export_section("protection", export_protection)
personal_data.provide_open_obligations("protection", open_cases)
personal_data.provide_last_transaction("protection", last_case)
personal_data.provide_on_purge("protection", erase_case_texts)
