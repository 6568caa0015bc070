"""live: a received live order is settled (clearing -> merchant payable, the pickup point
leader's commission, the platform's fee: the rates it was settled at are kept on the order so
a later return reverses exactly what was booked); the leader's itemised live commissions;
supply agreements between a merchant and a group leader (the foundation of leader rooms)

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settled_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("settled_fen", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("platform_fee_bp", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("commission_bp", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("commission_leader_user_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_live_orders_commission_leader_user_id_users"),
            "users",
            ["commission_leader_user_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            "settlement_rates",
            "platform_fee_bp >= 0 AND commission_bp >= 0 "
            "AND platform_fee_bp + commission_bp <= 10000",
        )
    op.create_table(
        "live_commissions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("leader_user_id", BIG_ID, nullable=False),
        sa.Column("pickup_point_id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("base_fen", sa.Integer(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'accrual' AND amount_fen > 0) OR (kind = 'reversal' AND amount_fen < 0)",
            name=op.f("ck_live_commissions_kind_sign"),
        ),
        sa.ForeignKeyConstraint(
            ["leader_user_id"],
            ["users.id"],
            name=op.f("fk_live_commissions_leader_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["live_orders.id"],
            name=op.f("fk_live_commissions_order_id_live_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_point_id"],
            ["pickup_points.id"],
            name=op.f("fk_live_commissions_pickup_point_id_pickup_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_commissions")),
    )
    with op.batch_alter_table("live_commissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_live_commissions_leader_created", ["leader_user_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_commissions_order_id"), ["order_id"], unique=False
        )
    op.create_table(
        "live_supply_agreements",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("organisation_id", BIG_ID, nullable=False),
        sa.Column("pickup_point_id", BIG_ID, nullable=False),
        sa.Column("leader_user_id", BIG_ID, nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("offered_by_user_id", BIG_ID, nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=10), nullable=True),
        sa.CheckConstraint(
            "commission_bp >= 0 AND commission_bp <= 3000",
            name=op.f("ck_live_supply_agreements_commission"),
        ),
        sa.CheckConstraint(
            "status IN ('offered', 'accepted', 'declined', 'ended')",
            name=op.f("ck_live_supply_agreements_status"),
        ),
        sa.ForeignKeyConstraint(
            ["leader_user_id"],
            ["users.id"],
            name=op.f("fk_live_supply_agreements_leader_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["offered_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_supply_agreements_offered_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_live_supply_agreements_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_point_id"],
            ["pickup_points.id"],
            name=op.f("fk_live_supply_agreements_pickup_point_id_pickup_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_supply_agreements")),
    )
    with op.batch_alter_table("live_supply_agreements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_live_supply_agreements_leader", ["leader_user_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_supply_agreements_organisation_id"),
            ["organisation_id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_live_supply_agreements_open",
            ["organisation_id", "pickup_point_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('offered', 'accepted')"),
            postgresql_where=sa.text("status IN ('offered', 'accepted')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("live_supply_agreements", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_live_supply_agreements_open",
            sqlite_where=sa.text("status IN ('offered', 'accepted')"),
            postgresql_where=sa.text("status IN ('offered', 'accepted')"),
        )
        batch_op.drop_index(batch_op.f("ix_live_supply_agreements_organisation_id"))
        batch_op.drop_index("ix_live_supply_agreements_leader")
    op.drop_table("live_supply_agreements")
    with op.batch_alter_table("live_commissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_commissions_order_id"))
        batch_op.drop_index("ix_live_commissions_leader_created")
    op.drop_table("live_commissions")
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_live_orders_settlement_rates"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_live_orders_commission_leader_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("commission_leader_user_id")
        batch_op.drop_column("commission_bp")
        batch_op.drop_column("platform_fee_bp")
        batch_op.drop_column("settled_fen")
        batch_op.drop_column("settled_at")
