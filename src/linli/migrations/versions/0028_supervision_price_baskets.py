"""supervision: the basket of necessities behind each authority's price index

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "supervision_price_baskets",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("regulator_organisation_id", _ID, nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("base_date", sa.Date(), nullable=False),
        sa.Column("updated_by_user_id", _ID, nullable=True),
        sa.Column("updated_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["regulator_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_supervision_price_baskets_regulator_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["users.id"],
            name=op.f("fk_supervision_price_baskets_updated_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_price_baskets")),
        sa.UniqueConstraint(
            "regulator_organisation_id",
            name=op.f("uq_supervision_price_baskets_regulator_organisation_id"),
        ),
    )
    op.create_table(
        "supervision_price_basket_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("basket_id", _ID, nullable=False),
        sa.Column("sku_id", _ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_supervision_price_basket_items_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["basket_id"],
            ["supervision_price_baskets.id"],
            name=op.f("fk_supervision_price_basket_items_basket_id_supervision_price_baskets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["skus.id"],
            name=op.f("fk_supervision_price_basket_items_sku_id_skus"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_price_basket_items")),
        sa.UniqueConstraint(
            "basket_id", "sku_id", name=op.f("uq_supervision_price_basket_items_basket_id_sku_id")
        ),
    )
    op.create_index(
        op.f("ix_supervision_price_basket_items_basket_id"),
        "supervision_price_basket_items",
        ["basket_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_supervision_price_basket_items_basket_id"),
        table_name="supervision_price_basket_items",
    )
    op.drop_table("supervision_price_basket_items")
    op.drop_table("supervision_price_baskets")
