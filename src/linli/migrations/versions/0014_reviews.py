"""reviews of verified purchases

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Reviews are never deleted: on PostgreSQL the database itself refuses (the ORM refuses too).
_NO_DELETE_FUNCTION = """
CREATE FUNCTION protection_reviews_no_delete() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'reviews are never deleted (hide one with a legal reason instead)';
END;
$$ LANGUAGE plpgsql
"""
_NO_DELETE_TRIGGER = """
CREATE TRIGGER protection_reviews_no_delete BEFORE DELETE ON protection_reviews
FOR EACH ROW EXECUTE FUNCTION protection_reviews_no_delete()
"""


def upgrade() -> None:
    op.create_table(
        "protection_reviews",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "order_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("product_name", sa.String(length=120), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "photo_file_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("replied_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "replied_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("hidden_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "hidden_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("hidden_reason", sa.String(length=20), nullable=True),
        sa.Column("hidden_note", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "rating >= 1 AND rating <= 5", name=op.f("ck_protection_reviews_rating_range")
        ),
        sa.CheckConstraint(
            "hidden_reason IS NULL OR hidden_reason IN ('illegal_content', 'personal_data')",
            name=op.f("ck_protection_reviews_hidden_reason"),
        ),
        sa.CheckConstraint(
            "(hidden_at IS NULL) = (hidden_reason IS NULL)",
            name=op.f("ck_protection_reviews_hidden_with_reason"),
        ),
        sa.CheckConstraint(
            "(replied_at IS NULL) = (reply_text IS NULL)",
            name=op.f("ck_protection_reviews_reply_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["groupbuy_order_lines.id"],
            name=op.f("fk_protection_reviews_order_line_id_groupbuy_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["groupbuy_orders.id"],
            name=op.f("fk_protection_reviews_order_id_groupbuy_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_protection_reviews_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_protection_reviews_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_protection_reviews_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["replied_by_user_id"],
            ["users.id"],
            name=op.f("fk_protection_reviews_replied_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["hidden_by_user_id"],
            ["users.id"],
            name=op.f("fk_protection_reviews_hidden_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_reviews")),
        sa.UniqueConstraint("order_line_id", name=op.f("uq_protection_reviews_order_line_id")),
    )
    with op.batch_alter_table("protection_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_protection_reviews_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            "ix_protection_reviews_product_rating",
            ["product_id", "rating", "hidden_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_protection_reviews_org_rating",
            ["organisation_id", "rating", "hidden_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_protection_reviews_product_created", ["product_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_protection_reviews_org_created", ["organisation_id", "created_at"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NO_DELETE_FUNCTION)
        op.execute(_NO_DELETE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS protection_reviews_no_delete ON protection_reviews")
        op.execute("DROP FUNCTION IF EXISTS protection_reviews_no_delete()")
    with op.batch_alter_table("protection_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_protection_reviews_org_created")
        batch_op.drop_index("ix_protection_reviews_product_created")
        batch_op.drop_index("ix_protection_reviews_org_rating")
        batch_op.drop_index("ix_protection_reviews_product_rating")
        batch_op.drop_index(batch_op.f("ix_protection_reviews_user_id"))
    op.drop_table("protection_reviews")
