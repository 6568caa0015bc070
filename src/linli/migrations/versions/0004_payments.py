"""payments and ledger: intents, refunds, provider callbacks, journal entries and postings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:09:13.845544
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("kind", "reference", name=op.f("uq_ledger_entries_kind_reference")),
    )
    op.create_table(
        "payment_callbacks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("received_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("remote_addr", sa.String(length=45), nullable=True),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=True),
        sa.Column("intent_public_id", sa.String(length=64), nullable=True),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_callbacks")),
    )
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_callbacks_intent_public_id"), ["intent_public_id"], unique=False
        )
        batch_op.create_index(
            "ix_payment_callbacks_notification", ["provider", "notification_id"], unique=False
        )

    op.create_table(
        "ledger_postings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_ledger_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_postings_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_postings_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_postings_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "payment_intents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "payer_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "payee_organisation_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('created', 'succeeded', 'cancelled', 'expired')",
            name=op.f("ck_payment_intents_status"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_intents_amount_positive")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name=op.f("ck_payment_intents_refund_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["payee_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_payment_intents_payee_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_user_id"], ["users.id"], name=op.f("fk_payment_intents_payer_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_intents")),
        sa.UniqueConstraint(
            "payer_user_id",
            "idempotency_key",
            name=op.f("uq_payment_intents_payer_user_id_idempotency_key"),
        ),
        sa.UniqueConstraint("provider_txn_id", name=op.f("uq_payment_intents_provider_txn_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_payment_intents_public_id")),
    )
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_intents_payee", ["payee_organisation_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_intents_payer_user_id"), ["payer_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_payment_intents_purpose_reference", ["purpose", "reference"], unique=False
        )

    op.create_table(
        "payment_refunds",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "intent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=True),
        sa.Column(
            "requested_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_payment_refunds_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payment_intents.id"],
            name=op.f("fk_payment_refunds_intent_id_payment_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_payment_refunds_requested_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint(
            "intent_id",
            "idempotency_key",
            name=op.f("uq_payment_refunds_intent_id_idempotency_key"),
        ),
        sa.UniqueConstraint(
            "provider_refund_id", name=op.f("uq_payment_refunds_provider_refund_id")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_payment_refunds_public_id")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_refunds_intent_id"), ["intent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_intent_id"))

    op.drop_table("payment_refunds")
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_intents_purpose_reference")
        batch_op.drop_index(batch_op.f("ix_payment_intents_payer_user_id"))
        batch_op.drop_index("ix_payment_intents_payee")

    op.drop_table("payment_intents")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_postings_entry_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_postings_account"))

    op.drop_table("ledger_postings")
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_callbacks_notification")
        batch_op.drop_index(batch_op.f("ix_payment_callbacks_intent_public_id"))

    op.drop_table("payment_callbacks")
    op.drop_table("ledger_entries")
