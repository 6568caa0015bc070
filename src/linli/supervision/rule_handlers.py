"""Where the supervision rules listen: outbox events as they happen, and a daily sweep."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.clock import LOCAL
from linli.events import (
    CampaignPublished,
    ComplaintFiled,
    EnrolmentPaid,
    InspectionFailed,
    OrderPaid,
    PriceChanged,
    ProductListed,
    ReturnRefundOverdue,
    ReturnRequested,
    TemperatureExcursion,
)
from linli.jobs import SupervisionSweep
from linli.supervision import (
    alert_service,
    rule_evaluation,
    rule_gouging,
    rule_negative_list,
    rule_orders,
    rule_prepaid,
    rule_prescriptions,
)
from linli.supervision import rule_defaults as R
from linli.supervision.rule_evaluation import COMPLAINT, ORDER_PAID, RETURN_REQUESTED

SWEEP_JOB = SupervisionSweep.job_kind
SWEEP_EVERY = timedelta(days=1)


@outbox.subscribe(PriceChanged, "supervision.price_changed")
async def price_changed(session: AsyncSession, envelope: outbox.Envelope[PriceChanged]) -> None:
    event = envelope.payload
    await rule_gouging.price_gouging(session, event.sku_id, event.new_price_fen)


@outbox.subscribe(OrderPaid, "supervision.order_paid")
async def order_paid(session: AsyncSession, envelope: outbox.Envelope[OrderPaid]) -> None:
    event = envelope.payload
    await alert_service.record_signal(
        session, event.merchant_organisation_id, ORDER_PAID, f"order:{event.order_id}"
    )
    await rule_orders.order_paid(session, event, envelope.created_at)


@outbox.batch_form(OrderPaid, "supervision.order_paid")
async def orders_paid(session: AsyncSession, envelopes: list[outbox.Envelope[OrderPaid]]) -> None:
    """A batch of paid orders: their signals in one INSERT, then their screens (one statement
    on PostgreSQL) and what each flags, in the batch's order (no rule the screen runs counts
    order signals; the complaint and refund rates that do run on other events)."""
    await alert_service.record_signals(
        session,
        [
            (e.payload.merchant_organisation_id, ORDER_PAID, f"order:{e.payload.order_id}")
            for e in envelopes
        ],
    )
    await rule_orders.orders_paid(session, [(e.payload, e.created_at) for e in envelopes])


@outbox.subscribe(ProductListed, "supervision.product_listed")
async def product_listed(session: AsyncSession, envelope: outbox.Envelope[ProductListed]) -> None:
    event = envelope.payload
    await rule_negative_list.negative_list_goods(
        session, event.organisation_id, product_ids=[event.product_id], via="listed"
    )


@outbox.subscribe(CampaignPublished, "supervision.campaign_published")
async def campaign_published(
    session: AsyncSession, envelope: outbox.Envelope[CampaignPublished]
) -> None:
    event = envelope.payload
    await rule_negative_list.negative_list_goods(
        session,
        event.organisation_id,
        sku_ids=event.sku_ids,
        via="campaign_published",
        campaign_id=event.campaign_id,
    )


@outbox.subscribe(ComplaintFiled, "supervision.complaint_filed")
async def complaint_filed(session: AsyncSession, envelope: outbox.Envelope[ComplaintFiled]) -> None:
    event = envelope.payload
    await alert_service.record_signal(
        session, event.subject_organisation_id, COMPLAINT, f"complaint:{event.complaint_id}"
    )
    await session.flush()
    await rule_evaluation.complaint_rate(session, event.subject_organisation_id)


@outbox.subscribe(ReturnRequested, "supervision.return_requested")
async def return_requested(
    session: AsyncSession, envelope: outbox.Envelope[ReturnRequested]
) -> None:
    event = envelope.payload
    await alert_service.record_signal(
        session, event.organisation_id, RETURN_REQUESTED, f"return:{event.return_id}"
    )
    await session.flush()
    await rule_evaluation.refund_spike(session, event.organisation_id)


@outbox.subscribe(ReturnRefundOverdue, "supervision.return_refund_overdue")
async def return_refund_overdue(
    session: AsyncSession, envelope: outbox.Envelope[ReturnRefundOverdue]
) -> None:
    event = envelope.payload
    await rule_evaluation.counted_fact(
        session, R.RETURN_REFUND_OVERDUE, event.organisation_id, f"return:{event.return_id}"
    )


@outbox.subscribe(InspectionFailed, "supervision.inspection_failed")
async def inspection_failed(
    session: AsyncSession, envelope: outbox.Envelope[InspectionFailed]
) -> None:
    event = envelope.payload
    await rule_evaluation.counted_fact(
        session, R.INSPECTION_FAILED, event.organisation_id, f"inspection:{event.inspection_id}"
    )


@outbox.subscribe(TemperatureExcursion, "supervision.temperature_excursion")
async def temperature_excursion(
    session: AsyncSession, envelope: outbox.Envelope[TemperatureExcursion]
) -> None:
    event = envelope.payload
    await rule_evaluation.counted_fact(
        session, R.COLD_CHAIN, event.organisation_id, f"excursion:{event.excursion_id}"
    )


@outbox.subscribe(EnrolmentPaid, "supervision.enrolment_paid")
async def enrolment_paid(session: AsyncSession, envelope: outbox.Envelope[EnrolmentPaid]) -> None:
    await rule_prepaid.prepaid_over_limit(session, envelope.payload)


@outbox.job(SupervisionSweep)
async def sweep(session: AsyncSession, job: SupervisionSweep) -> None:
    now = clock.now()
    today = now.astimezone(LOCAL).date()
    for organisation_id in await rule_evaluation.merchants_selling(session, now):
        await rule_evaluation.licence_lapsed(session, organisation_id, today)
    await rule_evaluation.recalls_overdue(session, now)
    await rule_prescriptions.prescriptions_unreviewed(session, now)
    await rule_prescriptions.dispensable_unreviewed(session, now)
    await _schedule_next(session)


async def ensure_sweep_scheduled(session: AsyncSession) -> None:
    await _schedule_next(session)


async def _schedule_next(session: AsyncSession) -> None:
    await outbox.schedule(
        session, SupervisionSweep(), clock.now() + SWEEP_EVERY, dedupe_key=SWEEP_JOB
    )
