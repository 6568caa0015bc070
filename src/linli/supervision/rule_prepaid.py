"""`supervision.prepaid_over_limit`: a paid collection of prepaid training fees beyond the
limits in force for the school's region when it was paid (rule `services.training_prepaid`,
read and applied by the services domain's `prepaid` face: the limits are not repeated here).

Courses refuse such a collection when it is made; one is still paid when the region tightened
its limit between the enrolment and the payment, or when data changed behind the check. Each
is one fact of the counting rule (ref `enrolment:{id}`), per school."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import EnrolmentPaid
from linli.rules.workdays import local_date
from linli.services import prepaid
from linli.supervision import rule_defaults as R
from linli.supervision import rule_evaluation
from linli.supervision.rule_service import in_force, merchant_codes


async def prepaid_over_limit(session: AsyncSession, event: EnrolmentPaid) -> bool:
    """Check the collection against the limits in force at its payment; count it when it
    goes beyond any of them."""
    limits_rule = await prepaid.rule_in_force(session, event.organisation_id, at=event.paid_at)
    limits = prepaid.Limits.of(limits_rule)
    collection = prepaid.Collection(
        first_day=local_date(event.first_class_at),
        last_day=local_date(event.last_class_at),
        classes=event.classes,
        class_minutes=event.class_minutes,
        amount_fen=event.amount_fen,
        subject_training=event.subject_training,
    )
    found = prepaid.breaches(limits, collection)
    if not found:
        return False
    rule = await in_force(
        session, R.PREPAID_OVER_LIMIT, await merchant_codes(session, event.organisation_id)
    )
    return await rule_evaluation.counted_fact(
        session,
        R.PREPAID_OVER_LIMIT,
        event.organisation_id,
        f"enrolment:{event.enrolment_id}",
        rule=rule,
        summary=f"enrolment {event.enrolment_id} paid beyond {', '.join(found)}",
        inputs={
            "enrolment_id": event.enrolment_id,
            "course_id": event.course_id,
            "paid_at": event.paid_at.isoformat(),
            "breaches": [str(b) for b in found],
            "amount_fen": collection.amount_fen,
            "classes": collection.classes,
            "class_hours": round(collection.classes * collection.class_minutes / 60, 2),
            "first_day": collection.first_day.isoformat(),
            "last_day": collection.last_day.isoformat(),
            "subject_training": collection.subject_training,
            "limits": {
                "max_months": limits.max_months,
                "max_class_hours": limits.max_class_hours,
                "max_fen_non_subject": limits.max_fen_non_subject,
            },
            "limits_rule": f"{limits_rule.rule_id}@{limits_rule.jurisdiction}"
            f"#{limits_rule.version}",
        },
    )
