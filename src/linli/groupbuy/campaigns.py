"""Campaigns: a merchant's draft of its own listed SKUs (and the batch each item is sold
from), its publication, and reading campaigns.

Publication moves stock by conditional UPDATE, from `skus.stock` to each campaign item's
`remaining` (all or nothing), and records the return and payment rules in force on the
campaign, so what residents were shown is what checkout applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import GROUPBUY_MANAGE, Actor
from linli.catalog import offers, stock
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import CampaignPublished
from linli.groupbuy import batches, policies
from linli.groupbuy.models import DRAFT, PUBLISHED, Campaign, CampaignItem
from linli.groupbuy.schemas import CampaignIn
from linli.i18n import N_
from linli.jobs import CampaignCutoff
from linli.merchants.queries import selling_organisation_ids
from linli.rules import service as rules

RETURN_RULE = "consumer.no_reason_return"
PAYMENT_RULE = "groupbuy.payment_window"
LOCAL = clock.LOCAL


def _check_window(opens_at: datetime, cutoff_at: datetime, pickup_date: date) -> None:
    fields: dict[str, str] = {}
    if opens_at >= cutoff_at:
        fields["cutoff_at"] = N_("The cutoff must be after the opening time.")
    if pickup_date <= cutoff_at.astimezone(LOCAL).date():
        fields["pickup_date"] = N_("Pickup must be on a day after the cutoff.")
    if fields:
        raise ValidationFailed(N_("Check the campaign's dates."), fields=dict(fields))


async def create_campaign(session: AsyncSession, actor: Actor, data: CampaignIn) -> Campaign:
    """A draft campaign of the merchant's own listed SKUs (no stock is taken yet)."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    await policies.ensure_selling(session, organisation_id)
    _check_window(data.opens_at, data.cutoff_at, data.pickup_date)
    sku_ids = [item.sku_id for item in data.items]
    fields: dict[str, str] = {}
    seen: set[int] = set()
    for n, sku_id in enumerate(sku_ids):
        if sku_id in seen:
            fields[f"items.{n}.sku_id"] = N_("This SKU is already in the campaign.")
        seen.add(sku_id)
    found = await offers.listed_skus(session, organisation_id, sku_ids)
    for n, item in enumerate(data.items):
        listed = found.get(item.sku_id)
        if listed is None:
            fields[f"items.{n}.sku_id"] = N_("Choose a SKU of your own listed products.")
        elif item.group_price_fen > listed.price_fen:
            fields[f"items.{n}.group_price_fen"] = N_(
                "The group price may not be above the SKU's price."
            )
    # --- trace2: the batch an item is sold from (own, same SKU, active) ---
    fields |= await batch_problems(session, organisation_id, data)
    # --- end trace2 ---
    if fields:
        raise ValidationFailed(N_("Check the campaign's items."), fields=dict(fields))
    now = clock.now()
    campaign = Campaign(
        organisation_id=organisation_id,
        title=data.title,
        opens_at=data.opens_at,
        cutoff_at=data.cutoff_at,
        pickup_date=data.pickup_date,
        status=DRAFT,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    session.add(campaign)
    await session.flush()
    for item in data.items:
        listed = found[item.sku_id]
        session.add(
            CampaignItem(
                campaign_id=campaign.id,
                sku_id=listed.sku_id,
                product_name=listed.product_name,
                sku_code=listed.code,
                unit=listed.unit,
                list_price_fen=listed.price_fen,
                group_price_fen=item.group_price_fen,
                per_resident_limit=item.per_resident_limit,
                stock=item.stock,
                remaining=0,
                min_group_qty=item.min_group_qty,
                storage_class=listed.storage_class,
                batch_id=item.batch_id,
                created_at=now,
            )
        )
    await session.flush()
    audit.record(
        session, actor, "groupbuy.campaign_created", target_type="campaign", target_id=campaign.id
    )
    return campaign


async def publish(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """Check the window, take each item's stock from its SKU (conditional UPDATE, all or
    nothing) and record the return and payment rules in force."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    campaign = await session.scalar(
        policies.own_campaigns(organisation_id)
        .where(Campaign.id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    if campaign.status == PUBLISHED:
        return campaign
    if campaign.status != DRAFT:
        raise Conflict(N_("Only a draft campaign can be published."), code="not_draft")
    await policies.ensure_selling(session, organisation_id)
    _check_window(campaign.opens_at, campaign.cutoff_at, campaign.pickup_date)
    now = clock.now()
    if campaign.cutoff_at <= now:
        raise ValidationFailed(
            N_("Check the campaign's dates."),
            fields={"cutoff_at": N_("The cutoff has already passed.")},
        )
    return_rule = await rules.in_force(session, RETURN_RULE)
    payment_rule = await rules.in_force(session, PAYMENT_RULE)
    items = (
        await session.scalars(
            select(CampaignItem)
            .where(CampaignItem.campaign_id == campaign.id)
            .order_by(CampaignItem.id)
        )
    ).all()
    products = await offers.listed_skus(session, organisation_id, [i.sku_id for i in items])
    await refuse_unsellable_batches(session, items)  # trace2: held or recalled lots
    for item in items:
        product = products.get(item.sku_id)
        if product is None:
            raise Conflict(
                N_("{product} is no longer listed; remove it or list it again."),
                product=item.product_name,
                code="sku_not_listed",
            )
        taken = await stock.reserve(
            session,
            actor,
            organisation_id=organisation_id,
            sku_id=item.sku_id,
            units=item.stock,
            reason="groupbuy.campaign_published",
            campaign_id=campaign.id,
        )
        if not taken:
            raise Conflict(
                N_("Not enough stock of {product} ({sku}) for {amount} in this campaign."),
                product=item.product_name,
                sku=item.sku_code,
                amount=item.stock,
                code="insufficient_stock",
            )
        item.storage_class = product.storage_class
        item.return_exclusion = offers.return_exclusion(
            return_rule.values, product.storage_class, product.category_codes
        )
        item.remaining = item.stock
    campaign.status = PUBLISHED
    campaign.published_at = now
    campaign.return_rule_id = return_rule.rule_id
    campaign.return_rule_version = return_rule.version
    campaign.return_days = int(return_rule.values["days"])
    campaign.payment_rule_version = payment_rule.version
    campaign.payment_window_minutes = int(payment_rule.values["minutes"])
    await session.flush()
    await outbox.schedule(
        session,
        CampaignCutoff(campaign_id=campaign.id),
        campaign.cutoff_at,
        dedupe_key=f"groupbuy-cutoff-{campaign.id}",
    )
    audit.record(
        session,
        actor,
        "groupbuy.campaign_published",
        target_type="campaign",
        target_id=campaign.id,
        return_rule=f"{return_rule.rule_id}@{return_rule.version}",
        payment_rule=f"{payment_rule.rule_id}@{payment_rule.version}",
    )
    outbox.publish(
        session,
        CampaignPublished(
            campaign_id=campaign.id,
            organisation_id=organisation_id,
            sku_ids=[item.sku_id for item in items],
            user_id=actor.user_id,
        ),
    )
    return campaign


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    merchant_name: str
    items: list[CampaignItem]

    @property
    def is_open(self) -> bool:
        return is_open(self.campaign, clock.now())


def is_open(campaign: Campaign, now: datetime) -> bool:
    return campaign.status == PUBLISHED and campaign.opens_at <= now < campaign.cutoff_at


async def _views(session: AsyncSession, campaigns: Sequence[Campaign]) -> list[CampaignView]:
    if not campaigns:
        return []
    ids = [c.id for c in campaigns]
    items: dict[int, list[CampaignItem]] = {}
    for item in await session.scalars(
        select(CampaignItem)
        .where(CampaignItem.campaign_id.in_(ids))
        .order_by(CampaignItem.id)
        .execution_options(populate_existing=True)
    ):
        items.setdefault(item.campaign_id, []).append(item)
    names = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({c.organisation_id for c in campaigns})
                )
            )
        ).all()
    )
    return [
        CampaignView(c, names.get(c.organisation_id, ""), items.get(c.id, [])) for c in campaigns
    ]


async def open_campaigns(session: AsyncSession, *, limit: int = 50) -> list[CampaignView]:
    """Published campaigns open for orders now, of merchants that may sell; soonest cutoff
    first."""
    now = clock.now()
    rows = (
        await session.scalars(
            policies.public_campaigns()
            .where(
                Campaign.opens_at <= now,
                Campaign.cutoff_at > now,
                Campaign.organisation_id.in_(selling_organisation_ids()),
            )
            .order_by(Campaign.cutoff_at, Campaign.id)
            .limit(limit)
        )
    ).all()
    return await _views(session, rows)


async def access_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> CampaignView:
    """A published campaign (anyone), or a draft of the merchant the actor acts for."""
    campaign = await session.scalar(
        policies.visible_campaigns(actor)
        .where(Campaign.id == campaign_id)
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    (view,) = await _views(session, [campaign])
    return view


async def my_campaigns(
    session: AsyncSession, actor: Actor, *, limit: int = 50
) -> list[CampaignView]:
    organisation_id = policies.acting_merchant(actor)
    rows = (
        await session.scalars(
            policies.own_campaigns(organisation_id).order_by(Campaign.id.desc()).limit(limit)
        )
    ).all()
    return await _views(session, rows)


# --- trace2: batches of campaign items ----------------------------------------------------


async def batch_problems(
    session: AsyncSession, organisation_id: int, data: CampaignIn
) -> dict[str, str]:
    """Field errors for items naming a batch that is not an active batch of that SKU of the
    merchant's own."""
    wanted = {item.batch_id for item in data.items if item.batch_id is not None}
    if not wanted:
        return {}
    own = await batches.source.own_batches(session, organisation_id, wanted)
    fields: dict[str, str] = {}
    for n, item in enumerate(data.items):
        if item.batch_id is None:
            continue
        batch = own.get(item.batch_id)
        if batch is None or batch.sku_id != item.sku_id:
            fields[f"items.{n}.batch_id"] = N_("Choose a batch of this SKU of your own.")
        elif batch.status != batches.ACTIVE:
            fields[f"items.{n}.batch_id"] = N_("This batch is on hold or recalled.")
    return fields


def batch_unsellable(product: str, status: str) -> Conflict:
    if status == batches.DESTROYED:
        return Conflict(
            N_("{product} was destroyed and can never be sold."),
            product=product,
            code="batch_destroyed",
        )
    if status == batches.RECALLED:
        return Conflict(
            N_("{product} has been recalled and cannot be sold."),
            product=product,
            code="batch_recalled",
        )
    return Conflict(
        N_("{product} is on hold (a food-safety check) and cannot be sold now."),
        product=product,
        code="batch_on_hold",
    )


async def refuse_unsellable_batches(session: AsyncSession, items: Sequence[CampaignItem]) -> None:
    named = {i.batch_id: i for i in items if i.batch_id is not None}
    if not named:
        return
    for batch_id, status in (await batches.source.statuses(session, set(named))).items():
        if status in batches.UNSELLABLE:
            raise batch_unsellable(named[batch_id].product_name, status)
