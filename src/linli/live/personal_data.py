"""Live selling's part of a resident's personal data (linli.personal_data, docs/privacy.md):
their live orders, the chat messages they wrote, their streamer records (real name, the last
four characters of the identity number as stored, never the keyed digest), the recordings of
the rooms they streamed (metadata and the replay's link, never the video itself), the mutes
applied to them and the rooms they watched, for the export. Likes are kept only as each
room's total and the viewer count only per server process (`live_presence`): neither names
anyone, so neither is in the export.

A live order awaiting payment or paid (goods or money still owed: delivery and refunds of live
orders are not built yet), or a room they stream that is scheduled, live or paused, keeps the
account open. Live orders are transaction records and a room's chat, sessions and streamer are
its live records: rule `live.commerce` (`retention_years`, 2021 Measures art. 21) keeps them
for that many years after the room ended, and `last_live` reports the rooms' ends so the
purge waits for them. At closing the author's name leaves the stored chat events, chat past
its room's retention loses its text, streamer records with no room go and the others are
suspended; the rest stays, tied to a user row that names nobody, until the purge: chat texts
replaced by "", the streamer's identity anonymised, mutes deleted. Recordings (the streamer's
picture and voice) are the room's live records too: neither closing nor the purge deletes
them early; the daily `live.purge_records` job deletes them, with the rooms' chat, once their
retention has ended (retention.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, personal_data
from linli.i18n import N_, Message
from linli.live.models import (
    ChatMessage,
    LiveCommission,
    LiveGoods,
    LiveOrder,
    Mute,
    Recording,
    Room,
    RoomEvent,
    RoomViewer,
    Streamer,
    SupplyAgreement,
)
from linli.live.states import (
    OPEN_STATUSES,
    FulfilmentStatus,
    LiveOrderStatus,
    RecordingStatus,
    StreamerStatus,
)

# Orders that still owe the resident goods or money: unpaid, or paid and not yet received (a
# received order's returns keep the account open through protection's own check).
OPEN_ORDERS = (LiveOrderStatus.PENDING_PAYMENT, LiveOrderStatus.PAID)
# What replaces an erased name in the channel's stored chat events (as accounts.closing).
ERASED_NAME = "—"
# Anonymised streamer identity at the purge (the columns are NOT NULL).
ERASED_BIRTH_DATE = date(1900, 1, 1)
CLOSED_REASON = "account closed"


async def export_live(session: AsyncSession, user_id: int) -> dict[str, Any]:
    orders = (
        await session.execute(
            select(
                LiveOrder, Room.title, LiveGoods.product_name, LiveGoods.sku_code, LiveGoods.unit
            )
            .join(Room, Room.id == LiveOrder.room_id)
            .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
            .where(LiveOrder.user_id == user_id)
            .order_by(LiveOrder.id)
        )
    ).all()
    messages = (
        await session.execute(
            select(ChatMessage, Room.title)
            .join(Room, Room.id == ChatMessage.room_id)
            .where(ChatMessage.user_id == user_id)
            .order_by(ChatMessage.id)
        )
    ).all()
    streamers = (
        await session.scalars(
            select(Streamer).where(Streamer.user_id == user_id).order_by(Streamer.id)
        )
    ).all()
    mutes = (
        await session.execute(
            select(Mute, Room.title)
            .join(Room, Room.id == Mute.room_id)
            .where(Mute.user_id == user_id)
            .order_by(Mute.room_id)
        )
    ).all()
    streamed = (
        await session.execute(
            select(Recording, Room.title)
            .join(Room, Room.id == Recording.room_id)
            .join(Streamer, Streamer.id == Room.streamer_id)
            .where(Streamer.user_id == user_id)
            .order_by(Recording.recorded_at, Recording.id)
        )
    ).all()
    watched = (
        await session.execute(
            select(RoomViewer, Room.title)
            .join(Room, Room.id == RoomViewer.room_id)
            .where(RoomViewer.user_id == user_id)
            .order_by(RoomViewer.first_seen_at, RoomViewer.room_id)
        )
    ).all()
    commissions = (
        await session.scalars(
            select(LiveCommission)
            .where(LiveCommission.leader_user_id == user_id)
            .order_by(LiveCommission.id)
        )
    ).all()
    agreements = (
        await session.scalars(
            select(SupplyAgreement)
            .where(SupplyAgreement.leader_user_id == user_id)
            .order_by(SupplyAgreement.id)
        )
    ).all()
    return {
        # As a pickup point's leader: commission on live orders handed over, and the supply
        # agreements merchants offered them.
        "leader_commissions": [
            {
                "order_id": c.order_id,
                "pickup_point_id": c.pickup_point_id,
                "kind": c.kind,
                "base_fen": c.base_fen,
                "rate_bp": c.rate_bp,
                "amount_fen": c.amount_fen,
                "created_at": c.created_at,
            }
            for c in commissions
        ],
        "supply_agreements": [
            {
                "id": a.id,
                "organisation_id": a.organisation_id,
                "pickup_point_id": a.pickup_point_id,
                "commission_bp": a.commission_bp,
                "status": a.status,
                "note": a.note,
                "created_at": a.created_at,
                "answered_at": a.answered_at,
                "ended_at": a.ended_at,
                "ended_by": a.ended_by,
            }
            for a in agreements
        ],
        "orders": [
            {
                "id": order.id,
                "room_id": order.room_id,
                "room": title,
                "organisation_id": order.organisation_id,
                "session_id": order.session_id,
                "product_name": product_name,
                "sku_code": sku_code,
                "unit": unit,
                "quantity": order.quantity,
                "unit_price_fen": order.unit_price_fen,
                "total_fen": order.total_fen,
                "status": order.status,
                "created_at": order.created_at,
                "paid_at": order.paid_at,
                "room_url": f"/live/{order.room_id}",
                "recipient_name": order.recipient_name,
                "recipient_phone": order.recipient_phone,
                "delivery_address": order.delivery_address,
                "fulfilment_status": order.fulfilment_status,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "shipped_at": order.shipped_at,
                "received_at": order.received_at,
                "returned_qty": order.returned_qty,
                "refunded_fen": order.refunded_fen,
            }
            for order, title, product_name, sku_code, unit in orders
        ],
        "chat_messages": [
            {
                "id": message.id,
                "room_id": message.room_id,
                "room": title,
                "at": message.at,
                "text": message.text,
                "removed": message.removed_at is not None,
                "removed_at": message.removed_at,
                "removed_reason": message.removed_reason,
            }
            for message, title in messages
        ],
        "streamers": [
            {
                "id": streamer.id,
                "organisation_id": streamer.organisation_id,
                "real_name": streamer.real_name,
                "identity_hint": streamer.identity_hint,
                "birth_date": streamer.birth_date,
                "guardian_name": streamer.guardian_name,
                "guardian_consent_at": streamer.guardian_consent_at,
                "status": streamer.status,
                "suspended_reason": streamer.suspended_reason,
                "verified_at": streamer.verified_at,
            }
            for streamer in streamers
        ],
        # The recordings of the rooms they streamed: what was kept, never the video's bytes
        # (a link to the replay while it is kept).
        "recordings": [
            {
                "id": recording.id,
                "room_id": recording.room_id,
                "room": title,
                "session_id": recording.session_id,
                "recorded_at": recording.recorded_at,
                "duration_ms": recording.duration_ms,
                "bytes": recording.bytes,
                "status": recording.status,
                "retain_until": recording.retain_until,
                "purged_at": recording.purged_at,
                "url": (
                    f"/live/{recording.room_id}/recordings/{recording.id}.mp4"
                    if recording.status == RecordingStatus.READY
                    else None
                ),
            }
            for recording, title in streamed
        ],
        "mutes": [
            {"room_id": mute.room_id, "room": title, "until": mute.until, "reason": mute.reason}
            for mute, title in mutes
        ],
        "rooms_watched": [
            {"room_id": seen.room_id, "room": title, "first_seen_at": seen.first_seen_at}
            for seen, title in watched
        ],
    }


async def open_live(session: AsyncSession, user_id: int) -> list[Message]:
    found: list[Message] = []
    orders = await session.scalar(
        select(func.count())
        .select_from(LiveOrder)
        .where(
            LiveOrder.user_id == user_id,
            LiveOrder.status.in_(OPEN_ORDERS),
            LiveOrder.fulfilment_status.is_distinct_from(FulfilmentStatus.RECEIVED),
        )
    )
    if orders:
        found.append(
            Message(
                N_(
                    "Live orders still open (awaiting payment, or paid and not yet delivered "
                    "or refunded): {count}."
                ),
                {"count": orders},
            )
        )
    rooms = await session.scalar(
        select(func.count())
        .select_from(Room)
        .join(Streamer, Streamer.id == Room.streamer_id)
        .where(Streamer.user_id == user_id, Room.status.in_(OPEN_STATUSES))
    )
    if rooms:
        found.append(
            Message(
                N_(
                    "Live rooms you stream that are scheduled, live or paused: {count}. The "
                    "merchant ends them first."
                ),
                {"count": rooms},
            )
        )
    return found


async def last_live(session: AsyncSession, user_id: int) -> datetime | None:
    """The latest of: a live order placed, paid or received, the end of a room they chatted in or
    streamed (the room's records are kept from its end, rule `live.commerce`; a room not
    ended yet counts with its scheduled end, by which its due job ends it)."""
    ordered = await session.scalar(
        select(
            func.max(func.coalesce(LiveOrder.received_at, LiveOrder.paid_at, LiveOrder.created_at))
        ).where(LiveOrder.user_id == user_id)
    )
    chatted = await session.scalar(
        select(func.max(func.coalesce(Room.ended_at, Room.scheduled_end))).where(
            Room.id.in_(select(ChatMessage.room_id).where(ChatMessage.user_id == user_id))
        )
    )
    streamed = await session.scalar(
        select(func.max(func.coalesce(Room.ended_at, Room.scheduled_end)))
        .join(Streamer, Streamer.id == Room.streamer_id)
        .where(Streamer.user_id == user_id)
    )
    return max((m for m in (ordered, chatted, streamed) if m is not None), default=None)


async def _rewrite_chat_events(session: AsyncSession, ids: set[int], **values: str) -> None:
    """Overwrite fields of the stored channel events (`chat` kind) of these chat messages."""
    if not ids:
        return
    events = await session.scalars(
        select(RoomEvent).where(
            RoomEvent.kind == "chat",
            RoomEvent.room_id.in_(
                select(ChatMessage.room_id).where(ChatMessage.id.in_(ids)).distinct()
            ),
        )
    )
    for event in events:
        if event.payload.get("id") in ids:
            event.payload = event.payload | values


async def _erase_chat(session: AsyncSession, user_id: int, *, all_rooms: bool) -> None:
    """Replace by "" the texts of the user's chat messages (and of their stored events): in
    every room, or only in rooms whose retention (`live_rooms.retain_until`) has ended."""
    which = select(ChatMessage.id).where(ChatMessage.user_id == user_id)
    if not all_rooms:
        which = which.where(
            ChatMessage.room_id.in_(
                select(Room.id).where(
                    Room.retain_until.is_not(None), Room.retain_until <= clock.now()
                )
            )
        )
    ids = set((await session.scalars(which)).all())
    if not ids:
        return
    await session.execute(
        update(ChatMessage)
        .where(ChatMessage.id.in_(ids))
        .values(text="")
        .execution_options(synchronize_session=False)
    )
    await _rewrite_chat_events(session, ids, text="")


async def forget_live(session: AsyncSession, user_id: int) -> None:
    """At closing: the author's name leaves the stored chat events; chat past its room's
    retention is erased; which rooms they watched is forgotten (no record anyone must keep:
    those rooms' viewer counts drop by one); a streamer record with no room is deleted (it is
    no live record), the others are suspended so no room goes live with a closed account."""
    ids = set(
        (await session.scalars(select(ChatMessage.id).where(ChatMessage.user_id == user_id))).all()
    )
    await _rewrite_chat_events(session, ids, user=ERASED_NAME)
    await _erase_chat(session, user_id, all_rooms=False)
    await session.execute(delete(RoomViewer).where(RoomViewer.user_id == user_id))
    await session.execute(
        delete(Streamer).where(
            Streamer.user_id == user_id,
            ~select(Room.id).where(Room.streamer_id == Streamer.id).exists(),
        )
    )
    await session.execute(
        update(Streamer)
        .where(Streamer.user_id == user_id)
        .values(status=StreamerStatus.SUSPENDED, suspended_reason=CLOSED_REASON)
        .execution_options(synchronize_session=False)
    )


async def erase_live(session: AsyncSession, user_id: int) -> None:
    """At the end of retention (which `last_live` ran from the rooms' ends): every chat text,
    the streamer's identity (the blacklist keeps its own digest), the mutes, the delivery
    addresses of their orders."""
    await _erase_chat(session, user_id, all_rooms=True)
    await session.execute(
        update(LiveOrder)
        .where(LiveOrder.user_id == user_id)
        .values(recipient_name=None, recipient_phone=None, delivery_address=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Streamer)
        .where(Streamer.user_id == user_id)
        .values(
            real_name=ERASED_NAME,
            identity_digest="",
            identity_hint="",
            birth_date=ERASED_BIRTH_DATE,
            guardian_name=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Mute).where(Mute.user_id == user_id))


personal_data.provide_export_section("live", export_live)
personal_data.provide_open_obligations("live", open_live)
personal_data.provide_last_transaction("live", last_live)
personal_data.provide_on_close("live", forget_live)
personal_data.provide_on_purge("live", erase_live)
