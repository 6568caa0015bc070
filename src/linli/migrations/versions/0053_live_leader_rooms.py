"""live: rooms of group leaders. A streamer may have no organisation (a leader streaming for
their pickup point); a room is owned by a merchant organisation or by a leader with their
pickup point (a CHECK for exactly one); goods carry their merchant, and in a leader's room the
supply agreement and its rate copied at adding.

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNER = (
    "(organisation_id IS NOT NULL AND leader_user_id IS NULL AND pickup_point_id IS NULL)"
    " OR (organisation_id IS NULL AND leader_user_id IS NOT NULL"
    " AND pickup_point_id IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("live_streamers", schema=None) as batch_op:
        batch_op.alter_column("organisation_id", existing_type=BIG_ID, nullable=True)
        batch_op.create_index(
            "uq_live_streamers_leader_user",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("organisation_id IS NULL"),
            postgresql_where=sa.text("organisation_id IS NULL"),
        )
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.alter_column("organisation_id", existing_type=BIG_ID, nullable=True)
        batch_op.add_column(sa.Column("leader_user_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("pickup_point_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_live_rooms_leader_user_id_users"),
            "users",
            ["leader_user_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_live_rooms_pickup_point_id_pickup_points"),
            "pickup_points",
            ["pickup_point_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_live_rooms_leader_user_id"), ["leader_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_rooms_pickup_point_id"), ["pickup_point_id"], unique=False
        )
        batch_op.create_check_constraint("owner", OWNER)
    with op.batch_alter_table("live_goods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("agreement_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("commission_bp", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_live_goods_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_live_goods_agreement_id_live_supply_agreements"),
            "live_supply_agreements",
            ["agreement_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_live_goods_organisation_id"), ["organisation_id"], unique=False
        )
    op.execute(
        "UPDATE live_goods SET organisation_id = "
        "(SELECT organisation_id FROM live_rooms WHERE live_rooms.id = live_goods.room_id)"
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM live_rooms WHERE organisation_id IS NULL"
    )  # leader rooms cannot exist in the older schema
    with op.batch_alter_table("live_goods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_goods_organisation_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_live_goods_agreement_id_live_supply_agreements"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_live_goods_organisation_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_column("commission_bp")
        batch_op.drop_column("agreement_id")
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_live_rooms_owner"), type_="check")
        batch_op.drop_index(batch_op.f("ix_live_rooms_pickup_point_id"))
        batch_op.drop_index(batch_op.f("ix_live_rooms_leader_user_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_live_rooms_pickup_point_id_pickup_points"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_live_rooms_leader_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("pickup_point_id")
        batch_op.drop_column("leader_user_id")
        batch_op.alter_column("organisation_id", existing_type=BIG_ID, nullable=False)
    op.execute("DELETE FROM live_streamers WHERE organisation_id IS NULL")
    with op.batch_alter_table("live_streamers", schema=None) as batch_op:
        batch_op.drop_index("uq_live_streamers_leader_user")
        batch_op.alter_column("organisation_id", existing_type=BIG_ID, nullable=False)
