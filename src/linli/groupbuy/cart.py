"""The resident's cart: items of any campaigns open now, checked out together. Checkout places
one order per campaign through `checkout.place_order` (the same reservation, limits, return
terms and idempotency), each in a savepoint, so a sold-out campaign does not stop the others;
what was ordered leaves the cart, what failed stays with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.db import escape_like
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.groupbuy import campaigns, orders
from linli.groupbuy import checkout as checkouts
from linli.groupbuy.models import Campaign, CampaignItem, CartLine, Order
from linli.groupbuy.schemas import OrderIn, OrderLineIn
from linli.groupbuy.states import CampaignStatus
from linli.i18n import N_, Message

MAX_CART_LINES = 50
KEY_LENGTH = (8, 48)  # room for -{campaign id} within an order key's 64


@dataclass(frozen=True)
class CartEntry:
    line: CartLine
    item: CampaignItem
    campaign: Campaign

    @property
    def amount_fen(self) -> int:
        return self.item.group_price_fen * self.line.quantity

    @property
    def orderable(self) -> bool:
        return campaigns.is_open(self.campaign, clock.now())


@dataclass(frozen=True)
class Cart:
    entries: list[CartEntry]

    @property
    def total_fen(self) -> int:
        return sum(e.amount_fen for e in self.entries if e.orderable)

    @property
    def needs_return_terms(self) -> bool:
        return any(e.item.return_exclusion for e in self.entries if e.orderable)

    def by_campaign(self) -> list[tuple[Campaign, list[CartEntry]]]:
        groups: dict[int, tuple[Campaign, list[CartEntry]]] = {}
        for entry in self.entries:
            groups.setdefault(entry.campaign.id, (entry.campaign, []))[1].append(entry)
        return list(groups.values())


async def view(session: AsyncSession, actor: Actor) -> Cart:
    user_id = actor.require_user_id()
    rows = await session.execute(
        select(CartLine, CampaignItem, Campaign)
        .join(CampaignItem, CampaignItem.id == CartLine.item_id)
        .join(Campaign, Campaign.id == CampaignItem.campaign_id)
        .where(CartLine.user_id == user_id)
        .order_by(Campaign.cutoff_at, Campaign.id, CampaignItem.id)
        .execution_options(populate_existing=True)
    )
    return Cart([CartEntry(line, item, campaign) for line, item, campaign in rows.all()])


async def set_quantity(session: AsyncSession, actor: Actor, item_id: int, quantity: int) -> Cart:
    """Put `quantity` of an item of an open campaign in the cart (0 takes it out)."""
    user_id = actor.require_user_id()
    line = await session.get(CartLine, (user_id, item_id), populate_existing=True)
    if quantity == 0:
        if line is not None:
            await session.delete(line)
            await session.flush()
        return await view(session, actor)
    row = (
        await session.execute(
            select(CampaignItem, Campaign)
            .join(Campaign, Campaign.id == CampaignItem.campaign_id)
            .where(CampaignItem.id == item_id)
        )
    ).first()
    if row is None or row.Campaign.status == CampaignStatus.DRAFT:
        raise NotFound(N_("No such item."), code="item_not_found")
    item, campaign = row
    if not campaigns.is_open(campaign, clock.now()):
        raise checkouts.campaign_not_open()
    if quantity > item.per_resident_limit:
        raise ValidationFailed(
            N_("Check the quantity."),
            fields={"quantity": N_("More than each resident may buy.")},
            code="limit_exceeded",
        )
    if line is None:
        count = await session.scalar(
            select(func.count()).select_from(CartLine).where(CartLine.user_id == user_id)
        )
        if (count or 0) >= MAX_CART_LINES:
            raise ValidationFailed(
                N_("Check the cart."),
                fields={"item_id": N_("The cart is full: check out or remove something.")},
            )
        session.add(
            CartLine(user_id=user_id, item_id=item_id, quantity=quantity, added_at=clock.now())
        )
    else:
        line.quantity = quantity
    await session.flush()
    return await view(session, actor)


@dataclass
class CheckoutResult:
    placed: list[checkouts.Checkout] = field(default_factory=list)
    failed: list[tuple[Campaign, Message]] = field(default_factory=list)


async def checkout(
    session: AsyncSession, actor: Actor, *, accept_return_terms: bool, key: str
) -> CheckoutResult:
    """One order per campaign in the cart, each under `{key}-{campaign id}`: the same key
    gives back the same orders. Campaigns closed since are left in the cart as failed."""
    user_id = actor.require_user_id()
    if not KEY_LENGTH[0] <= len(key) <= KEY_LENGTH[1]:
        raise ValidationFailed(
            N_("Send an Idempotency-Key header of 8 to 48 printable characters."),
            fields={"Idempotency-Key": N_("Enter 8 to 48 printable characters.")},
        )
    # One checkout of a resident's cart at a time: a double tap waits for the first.
    await session.execute(
        select(CartLine.item_id).where(CartLine.user_id == user_id).with_for_update()
    )
    cart = await view(session, actor)
    if not cart.entries:
        earlier = await _orders_under(session, actor, key)
        if earlier.placed:
            return earlier
        raise ValidationFailed(
            N_("The cart is empty."), fields={"cart": N_("Add something first.")}, code="cart_empty"
        )
    result = CheckoutResult()
    for campaign, entries in cart.by_campaign():
        data = OrderIn(
            campaign_id=campaign.id,
            lines=[OrderLineIn(item_id=e.item.id, quantity=e.line.quantity) for e in entries],
            accept_return_terms=accept_return_terms,
        )
        try:
            async with session.begin_nested():
                placed = await checkouts.place_order(session, actor, data, f"{key}-{campaign.id}")
        except DomainError as error:
            result.failed.append((campaign, error.message))
            continue
        result.placed.append(placed)
        await session.execute(
            delete(CartLine).where(
                CartLine.user_id == user_id,
                CartLine.item_id.in_([e.item.id for e in entries]),
            )
        )
    return result


async def _orders_under(session: AsyncSession, actor: Actor, key: str) -> CheckoutResult:
    """The orders an earlier checkout with this key placed (the same key, the same answer)."""
    rows = await session.execute(
        select(Order.id, Order.idempotency_key)
        .where(
            Order.user_id == actor.require_user_id(),
            Order.idempotency_key.like(f"{escape_like(key)}-%", escape="\\"),
        )
        .order_by(Order.id)
    )
    # Only "{key}-{campaign id}", not another key that merely starts with this one.
    ids = [i for i, k in rows.all() if k.removeprefix(f"{key}-").isdigit()]
    return CheckoutResult([await orders.access_order(session, actor, i) for i in ids])
