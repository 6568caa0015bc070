"""communities, pickup points, leaders, residences

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:07:48.926230
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("province_code", sa.String(length=6), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
    )
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_communities_district_code"), ["district_code"], unique=False
        )

    op.create_table(
        "leaders",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        sa.Column("approved_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "commission_bp >= 0 AND commission_bp <= 3000", name=op.f("ck_leaders_commission")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_leaders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_leaders")),
    )
    op.create_table(
        "pickup_points",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("opening_hours", sa.String(length=40), nullable=False),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.Column(
            "leader_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("daily_capacity > 0", name=op.f("ck_pickup_points_capacity_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_pickup_points_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["leader_user_id"],
            ["users.id"],
            name=op.f("fk_pickup_points_leader_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pickup_points")),
    )
    with op.batch_alter_table("pickup_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pickup_points_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pickup_points_leader_user_id"), ["leader_user_id"], unique=False
        )

    op.create_table(
        "leader_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("point_name", sa.String(length=80), nullable=False),
        sa.Column("point_address", sa.String(length=200), nullable=False),
        sa.Column("opening_hours", sa.String(length=40), nullable=False),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.Column("motivation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column(
            "reviewed_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reviewed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "pickup_point_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')",
            name=op.f("ck_leader_applications_status"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_leader_applications_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pickup_point_id"],
            ["pickup_points.id"],
            name=op.f("fk_leader_applications_pickup_point_id_pickup_points"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_leader_applications_reviewed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leader_applications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_applications")),
    )
    with op.batch_alter_table("leader_applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leader_applications_status", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_leader_applications_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "residences",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "pickup_point_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("joined_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_residences_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_point_id"],
            ["pickup_points.id"],
            name=op.f("fk_residences_pickup_point_id_pickup_points"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_residences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_residences")),
    )
    with op.batch_alter_table("residences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_residences_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_residences_pickup_point_id"), ["pickup_point_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("residences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residences_pickup_point_id"))
        batch_op.drop_index(batch_op.f("ix_residences_community_id"))

    op.drop_table("residences")
    with op.batch_alter_table("leader_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leader_applications_user_id"))
        batch_op.drop_index("ix_leader_applications_status")

    op.drop_table("leader_applications")
    with op.batch_alter_table("pickup_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pickup_points_leader_user_id"))
        batch_op.drop_index(batch_op.f("ix_pickup_points_community_id"))

    op.drop_table("pickup_points")
    op.drop_table("leaders")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communities_district_code"))

    op.drop_table("communities")
