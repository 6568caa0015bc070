"""What the live routes (API, pages, the room channel) share: a room as its body, a live
order as its body (with delivery and replay link)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from linli import forms
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.live import service
from linli.live.fulfilment import LiveOrderView
from linli.live.models import LiveGoods, Room
from linli.live.schemas import (
    GoodsOut,
    MerchantLiveOrderOut,
    MyLiveOrderOut,
    PointLiveOrderOut,
    RoomOut,
    SellerOut,
)
from linli.live.states import RemovalReason
from linli.merchants.queries import public_identity

ROOM_STATUS_LABELS = {
    "scheduled": N_("Scheduled"),
    "live": N_("Live now"),
    "paused": N_("Paused"),
    "ended": N_("Ended"),
    "banned": N_("Banned"),
}
REMOVAL_LABELS = {
    RemovalReason.SPAM: N_("Spam or advertising"),
    RemovalReason.ABUSE: N_("Insults or harassment"),
    RemovalReason.ILLEGAL: N_("Unlawful content"),
    RemovalReason.PERSONAL_DATA: N_("Someone's personal data"),
    RemovalReason.FRAUD: N_("Scam or payment outside the platform"),
}
assert set(REMOVAL_LABELS) == set(RemovalReason)


def whole_id(raw: str) -> int:
    value = forms.whole(raw)
    if not isinstance(value, int) or value < 1:
        raise ValidationFailed(N_("Check the form."), fields={"id": N_("Choose one.")})
    return value


def removal_reason(raw: str) -> str:
    if raw not in set(RemovalReason):
        raise ValidationFailed(N_("Check the form."), fields={"reason": N_("Choose a reason.")})
    return raw


async def seller_of(session: AsyncSession, organisation_id: int) -> SellerOut:
    identity = await public_identity(session, organisation_id)
    if identity is None:
        return SellerOut(organisation_id=organisation_id, name="", credit_code=None, licences=[])
    return SellerOut(
        organisation_id=organisation_id,
        name=identity.name,
        credit_code=identity.credit_code,
        licences=[
            f"{lic.licence_type} {lic.number} ({lic.valid_from}..{lic.valid_to})"
            for lic in identity.licences
        ],
        after_sales_phone=identity.after_sales_phone,
        after_sales_terms=identity.after_sales_terms,
    )


def present_room(
    room: Room,
    goods: Sequence[LiveGoods],
    seller: SellerOut | None = None,
    sellers: Sequence[SellerOut] = (),
) -> RoomOut:
    return RoomOut.from_row(
        room,
        goods=[GoodsOut.model_validate(g) for g in goods],
        seller=seller,
        sellers=list(sellers),
    )


async def rooms_out(session: AsyncSession, rooms: Sequence[Room]) -> list[RoomOut]:
    goods = await service.goods_of(session, [room.id for room in rooms])
    return [present_room(room, goods[room.id]) for room in rooms]


async def room_out(session: AsyncSession, room: Room) -> RoomOut:
    goods = await service.goods_of(session, [room.id])
    if room.organisation_id is not None:
        return present_room(room, goods[room.id], await seller_of(session, room.organisation_id))
    # A leader's room: each supplying merchant's identity and licences.
    merchants = sorted({g.organisation_id for g in goods[room.id] if g.organisation_id})
    return present_room(
        room, goods[room.id], sellers=[await seller_of(session, m) for m in merchants]
    )


def live_order_out(view: LiveOrderView) -> MyLiveOrderOut:
    """A resident's live order with its room, delivery (the pickup code while it waits at
    the point) and replay link."""
    return MyLiveOrderOut.from_row(view.order, **_view_values(view))


def merchant_live_order_out(view: LiveOrderView) -> MerchantLiveOrderOut:
    """A paid live order as its merchant ships it: never the pickup code."""
    return MerchantLiveOrderOut.from_row(view.order, **_view_values(view), pickup_code=None)


def point_live_order_out(view: LiveOrderView) -> PointLiveOrderOut:
    """A live order at a pickup point as its leader sees it."""
    return PointLiveOrderOut.from_row(view.order, product_name=view.product_name, unit=view.unit)


def _view_values(view: LiveOrderView) -> dict[str, object]:
    return {
        "room_title": view.room_title,
        "product_name": view.product_name,
        "unit": view.unit,
        "replay_url": view.replay.url if view.replay else None,
        "replay_at_seconds": view.replay.at_seconds if view.replay else None,
        "pickup_point_name": view.pickup_point_name,
    }
