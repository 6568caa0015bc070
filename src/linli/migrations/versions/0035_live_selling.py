"""live: streamers (real-name identity digest), the identity blacklist, rooms, sessions,
goods with stream stock, per-viewer quotas, pins, live orders, chat messages, mutes, the
rooms' channel events and presence (docs/live.md)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 09:52:56.391673
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_blacklist",
        sa.Column("identity_digest", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_blacklist_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("identity_digest", name=op.f("pk_live_blacklist")),
    )
    op.create_table(
        "live_streamers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("real_name", sa.String(length=60), nullable=False),
        sa.Column("identity_digest", sa.String(length=64), nullable=False),
        sa.Column("identity_hint", sa.String(length=8), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("guardian_name", sa.String(length=60), nullable=True),
        sa.Column("guardian_consent_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("suspended_reason", sa.String(length=200), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("verified_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "verified_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended')", name=op.f("ck_live_streamers_status")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_live_streamers_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_live_streamers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_streamers_verified_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_streamers")),
        sa.UniqueConstraint(
            "organisation_id", "user_id", name=op.f("uq_live_streamers_organisation_id_user_id")
        ),
    )
    with op.batch_alter_table("live_streamers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_streamers_identity_digest"), ["identity_digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_streamers_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_live_streamers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "live_rooms",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "streamer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("scheduled_start", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scheduled_end", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("pinned_goods_id", sa.Integer(), nullable=True),
        sa.Column("ad_review_reference", sa.String(length=80), nullable=True),
        sa.Column("ad_review_recorded_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("banned_reason", sa.String(length=200), nullable=True),
        sa.Column(
            "created_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retain_until", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('scheduled', 'live', 'paused', 'ended', 'banned')",
            name=op.f("ck_live_rooms_status"),
        ),
        sa.CheckConstraint("scheduled_start < scheduled_end", name=op.f("ck_live_rooms_window")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_rooms_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_live_rooms_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["streamer_id"],
            ["live_streamers.id"],
            name=op.f("fk_live_rooms_streamer_id_live_streamers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_rooms")),
    )
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_rooms_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            "ix_live_rooms_status_start", ["status", "scheduled_start"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_rooms_streamer_id"), ["streamer_id"], unique=False
        )

    op.create_table(
        "live_goods",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("product_name", sa.String(length=120), nullable=False),
        sa.Column("sku_code", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("list_price_fen", sa.Integer(), nullable=False),
        sa.Column("stream_price_fen", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column(
            "category_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("needs_ad_review", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_units", sa.Integer(), nullable=True),
        sa.CheckConstraint("per_buyer_limit >= 1", name=op.f("ck_live_goods_limit_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= stock", name=op.f("ck_live_goods_remaining_in_range")
        ),
        sa.CheckConstraint("stock >= 1", name=op.f("ck_live_goods_stock_positive")),
        sa.CheckConstraint("stream_price_fen > 0", name=op.f("ck_live_goods_price_positive")),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_goods_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_live_goods_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_goods")),
        sa.UniqueConstraint("room_id", "sku_id", name=op.f("uq_live_goods_room_id_sku_id")),
    )
    with op.batch_alter_table("live_goods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_goods_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_goods_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "live_mutes",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("until", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column(
            "by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["users.id"],
            name=op.f("fk_live_mutes_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_mutes_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_live_mutes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_live_mutes")),
    )
    op.create_table(
        "live_presence",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("process_id", sa.String(length=40), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("updated_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_presence_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "process_id", name=op.f("pk_live_presence")),
    )
    op.create_table(
        "live_room_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_room_events_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_room_events")),
    )
    with op.batch_alter_table("live_room_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_room_events_at"), ["at"], unique=False)

    op.create_table(
        "live_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.Column("stream_key_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "started_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_sessions_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_sessions_started_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_sessions")),
        sa.UniqueConstraint("stream_key_digest", name=op.f("uq_live_sessions_stream_key_digest")),
    )
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_sessions_room_id"), ["room_id"], unique=False)

    op.create_table(
        "live_buyer_quotas",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("goods_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quantity >= 0", name=op.f("ck_live_buyer_quotas_quantity_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["goods_id"],
            ["live_goods.id"],
            name=op.f("fk_live_buyer_quotas_goods_id_live_goods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_live_buyer_quotas_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "goods_id", name=op.f("pk_live_buyer_quotas")),
    )
    with op.batch_alter_table("live_buyer_quotas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_buyer_quotas_goods_id"), ["goods_id"], unique=False
        )

    op.create_table(
        "live_chat_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("text", sa.String(length=400), nullable=False),
        sa.Column("at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_reason", sa.String(length=200), nullable=True),
        sa.Column(
            "removed_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_chat_messages_removed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_chat_messages_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_chat_messages_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_live_chat_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_chat_messages")),
    )
    with op.batch_alter_table("live_chat_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_chat_messages_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index("ix_live_chat_room_at", ["room_id", "at"], unique=False)

    op.create_table(
        "live_pins",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("goods_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pinned_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unpinned_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "pinned_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["goods_id"],
            ["live_goods.id"],
            name=op.f("fk_live_pins_goods_id_live_goods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pinned_by_user_id"],
            ["users.id"],
            name=op.f("fk_live_pins_pinned_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_pins_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_pins_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_pins")),
    )
    with op.batch_alter_table("live_pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_pins_room_id"), ["room_id"], unique=False)

    op.create_table(
        "live_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("goods_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pin_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'cancelled')", name=op.f("ck_live_orders_status")
        ),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_live_orders_quantity_positive")),
        sa.CheckConstraint("total_fen > 0", name=op.f("ck_live_orders_total_positive")),
        sa.ForeignKeyConstraint(
            ["goods_id"], ["live_goods.id"], name=op.f("fk_live_orders_goods_id_live_goods")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_live_orders_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["pin_id"], ["live_pins.id"], name=op.f("fk_live_orders_pin_id_live_pins")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["live_rooms.id"], name=op.f("fk_live_orders_room_id_live_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_orders_session_id_live_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_live_orders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_orders")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_live_orders_user_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_orders_goods_id"), ["goods_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_live_orders_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            "ix_live_orders_room_created", ["room_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_live_orders_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_orders_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_orders_user_id"))
        batch_op.drop_index(batch_op.f("ix_live_orders_session_id"))
        batch_op.drop_index("ix_live_orders_room_created")
        batch_op.drop_index(batch_op.f("ix_live_orders_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_live_orders_goods_id"))

    op.drop_table("live_orders")
    with op.batch_alter_table("live_pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_pins_room_id"))

    op.drop_table("live_pins")
    with op.batch_alter_table("live_chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_live_chat_room_at")
        batch_op.drop_index(batch_op.f("ix_live_chat_messages_user_id"))

    op.drop_table("live_chat_messages")
    with op.batch_alter_table("live_buyer_quotas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_buyer_quotas_goods_id"))

    op.drop_table("live_buyer_quotas")
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_sessions_room_id"))

    op.drop_table("live_sessions")
    with op.batch_alter_table("live_room_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_room_events_at"))

    op.drop_table("live_room_events")
    op.drop_table("live_presence")
    op.drop_table("live_mutes")
    with op.batch_alter_table("live_goods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_goods_sku_id"))
        batch_op.drop_index(batch_op.f("ix_live_goods_room_id"))

    op.drop_table("live_goods")
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_rooms_streamer_id"))
        batch_op.drop_index("ix_live_rooms_status_start")
        batch_op.drop_index(batch_op.f("ix_live_rooms_organisation_id"))

    op.drop_table("live_rooms")
    with op.batch_alter_table("live_streamers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_streamers_user_id"))
        batch_op.drop_index(batch_op.f("ix_live_streamers_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_live_streamers_identity_digest"))

    op.drop_table("live_streamers")
    op.drop_table("live_blacklist")
