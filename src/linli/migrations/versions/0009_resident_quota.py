"""group buying: the per-resident limit as a conditional counter (resident quotas) instead of
one unpaid order per resident and campaign

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 07:04:32.715663
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groupbuy_resident_quotas",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quantity >= 0", name=op.f("ck_groupbuy_resident_quotas_quantity_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["groupbuy_campaign_items.id"],
            name=op.f("fk_groupbuy_resident_quotas_item_id_groupbuy_campaign_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_groupbuy_resident_quotas_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_groupbuy_resident_quotas")),
    )
    with op.batch_alter_table("groupbuy_resident_quotas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_groupbuy_resident_quotas_item_id"), ["item_id"], unique=False
        )
    # What residents hold today (every order not cancelled) becomes their counters.
    op.execute(
        "INSERT INTO groupbuy_resident_quotas (user_id, item_id, quantity)"
        " SELECT o.user_id, l.item_id, sum(l.quantity)"
        " FROM groupbuy_order_lines l JOIN groupbuy_orders o ON o.id = l.order_id"
        " WHERE o.status <> 'cancelled'"
        " GROUP BY o.user_id, l.item_id"
    )
    with op.batch_alter_table("groupbuy_orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_groupbuy_orders_one_unpaid",
            sqlite_where=sa.text("status = 'pending_payment'"),
            postgresql_where=sa.text("status = 'pending_payment'"),
        )


def downgrade() -> None:
    # Fails while a resident holds more than one unpaid order in a campaign (let them expire).
    with op.batch_alter_table("groupbuy_orders", schema=None) as batch_op:
        batch_op.create_index(
            "uq_groupbuy_orders_one_unpaid",
            ["user_id", "campaign_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending_payment'"),
            postgresql_where=sa.text("status = 'pending_payment'"),
        )
    with op.batch_alter_table("groupbuy_resident_quotas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groupbuy_resident_quotas_item_id"))
    op.drop_table("groupbuy_resident_quotas")
