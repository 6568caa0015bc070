"""trace: named queries of the EPCIS REST interface (/epcis/queries) and subscriptions to them

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DATA = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "trace_named_queries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("organisation_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parameters", JSON_DATA, nullable=False),
        sa.Column("created_by_user_id", BIG_ID, nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_trace_named_queries_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_trace_named_queries_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_named_queries")),
        sa.UniqueConstraint(
            "organisation_id", "name", name=op.f("uq_trace_named_queries_organisation_id_name")
        ),
    )

    op.create_table(
        "trace_subscriptions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", BIG_ID, nullable=False),
        sa.Column("query_id", BIG_ID, nullable=False),
        sa.Column("destination", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", BIG_ID, nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_trace_subscriptions_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["trace_named_queries.id"],
            name=op.f("fk_trace_subscriptions_query_id_trace_named_queries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_trace_subscriptions_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_subscriptions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_trace_subscriptions_public_id")),
    )
    op.create_index(
        op.f("ix_trace_subscriptions_organisation_id"), "trace_subscriptions", ["organisation_id"]
    )
    op.create_index(op.f("ix_trace_subscriptions_query_id"), "trace_subscriptions", ["query_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trace_subscriptions_query_id"), table_name="trace_subscriptions")
    op.drop_index(op.f("ix_trace_subscriptions_organisation_id"), table_name="trace_subscriptions")
    op.drop_table("trace_subscriptions")
    op.drop_table("trace_named_queries")
