"""The per-resident limit of a campaign item: a counter per (resident, item), taken by one
conditional upsert per order line at checkout and given back when an order no longer counts
(cancelled, expired, refunded unpaid). A resident may hold several unpaid orders, concurrent
ones included, never beyond the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, FromClause, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli.errors import Conflict
from linli.groupbuy.models import CampaignItem, ResidentQuota
from linli.i18n import N_


def limit_exceeded(fields: dict[str, str]) -> Conflict:
    return Conflict(
        N_("Each resident may buy only so many of an item in this campaign."),
        code="limit_exceeded",
        fields=dict(fields),
    )


async def take(session: AsyncSession, user_id: int, item: CampaignItem, quantity: int) -> bool:
    """Add `quantity` to what the resident holds of `item` unless that would exceed the
    item's per-resident limit: one INSERT ... ON CONFLICT DO UPDATE ... WHERE (PostgreSQL,
    SQLite >= 3.35). Concurrent orders of one resident queue on the counter's row."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ResidentQuota).values(user_id=user_id, item_id=item.id, quantity=quantity)
    held = ResidentQuota.quantity + statement.excluded.quantity
    taken = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[ResidentQuota.user_id, ResidentQuota.item_id],
            set_={"quantity": held},
            where=held <= item.per_resident_limit,
        ).returning(ResidentQuota.quantity)
    )
    return taken is not None


def take_from(
    user_id: ColumnElement[int],
    item_id: ColumnElement[int],
    quantity: ColumnElement[int],
    when: ColumnElement[bool],
    *,
    name: str,
) -> CTE:
    """`take` as a data-modifying CTE of a one-statement checkout (PostgreSQL; the values are
    expressions, bound parameters of a statement built once): the same conditional upsert,
    attempted only `when` holds, the limit read from the item's row. RETURNING the quantity
    held: no row, the limit is reached (or `when` was false). The first insert of a counter is
    bounded by the caller's `when` (quantity <= limit)."""
    limit = (
        select(CampaignItem.per_resident_limit).where(CampaignItem.id == item_id).scalar_subquery()
    )
    statement = pg_insert(ResidentQuota).from_select(
        ["user_id", "item_id", "quantity"], select(user_id, item_id, quantity).where(when)
    )
    held = ResidentQuota.quantity + statement.excluded.quantity
    return (
        statement.on_conflict_do_update(
            index_elements=[ResidentQuota.user_id, ResidentQuota.item_id],
            set_={"quantity": held},
            where=held <= limit,
        )
        .returning(ResidentQuota.quantity)
        .cte(name)
    )


def held_of(user_id: ColumnElement[int], item_id: Any) -> ColumnElement[int]:
    """What the resident holds of the item now (0 without a counter), as an expression of a
    statement (a correlated subquery): a group commit's prediction, not its arbiter."""
    return func.coalesce(
        select(ResidentQuota.quantity)
        .where(ResidentQuota.user_id == user_id, ResidentQuota.item_id == item_id)
        .scalar_subquery(),
        0,
    )


def take_many_from(
    source: FromClause,
    user_id: ColumnElement[int],
    item_id: ColumnElement[int],
    quantity: ColumnElement[int],
    *,
    name: str,
) -> CTE:
    """`take` for every row of `source` (a CTE of a group commit's statement, PostgreSQL):
    one multi-row conditional upsert, rows in resident order (concurrent statements lock the
    counters in one order). At most one row per resident and item (PostgreSQL refuses to
    update one row twice in a statement: the caller puts one order per resident in a batch).
    RETURNING user_id and the quantity held: no row for a resident, the limit is reached."""
    limit = (
        select(CampaignItem.per_resident_limit).where(CampaignItem.id == item_id).scalar_subquery()
    )
    statement = pg_insert(ResidentQuota).from_select(
        ["user_id", "item_id", "quantity"],
        select(user_id, item_id, quantity).select_from(source).order_by(user_id),
    )
    held = ResidentQuota.quantity + statement.excluded.quantity
    return (
        statement.on_conflict_do_update(
            index_elements=[ResidentQuota.user_id, ResidentQuota.item_id],
            set_={"quantity": held},
            where=held <= limit,
        )
        .returning(ResidentQuota.user_id, ResidentQuota.quantity)
        .cte(name)
    )


async def release(session: AsyncSession, user_id: int, lines: Sequence[tuple[int, int]]) -> None:
    """Give a resident's units back: `lines` are (item id, quantity) of an order that no
    longer counts against the per-resident limit (cancelled, expired, refunded unpaid)."""
    for item_id, quantity in sorted(lines):
        await session.execute(
            update(ResidentQuota)
            .where(
                ResidentQuota.user_id == user_id,
                ResidentQuota.item_id == item_id,
                ResidentQuota.quantity >= quantity,
            )
            .values(quantity=ResidentQuota.quantity - quantity)
            .execution_options(synchronize_session=False)
        )
