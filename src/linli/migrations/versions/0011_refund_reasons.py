"""refund reasons as an enumerated column set by the caller (back-filled from the old
idempotency-key prefixes)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the migration must not change when the enumeration grows.
REASONS = (
    "merchant_decision",
    "platform_decision",
    "group_failed",
    "uncollected",
    "recall",
    "payment_expired",
)
# How the services used to say why (the refund's idempotency key), most specific first.
# Refunds through the API carry the caller's own key (or none): the payee merchant's decision
# unless refunded by a platform operator, told apart by the membership of who asked.
PREFIXES = (
    ("groupbuy-unpayable-", "payment_expired"),
    ("closed-", "payment_expired"),
    ("group-", "group_failed"),
    ("uncollected-", "uncollected"),
    ("collected-", "merchant_decision"),
    ("recall-", "recall"),
)


def upgrade() -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(length=30), nullable=True))
    refunds = sa.table(
        "payment_refunds",
        sa.column("idempotency_key", sa.String()),
        sa.column("reason_code", sa.String()),
    )
    for prefix, reason in PREFIXES:
        op.execute(
            refunds.update()
            .where(
                refunds.c.reason_code.is_(None),
                sa.func.substr(refunds.c.idempotency_key, 1, len(prefix)) == prefix,
            )
            .values(reason_code=reason)
        )
    op.execute(
        "UPDATE payment_refunds SET reason_code = 'platform_decision'"
        " WHERE reason_code IS NULL AND requested_by_user_id IN ("
        "  SELECT m.user_id FROM memberships m JOIN organisations o"
        "  ON o.id = m.organisation_id WHERE o.kind = 'platform')"
    )
    op.execute(
        refunds.update()
        .where(refunds.c.reason_code.is_(None))
        .values(reason_code="merchant_decision")
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.alter_column("reason_code", existing_type=sa.String(length=30), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_payment_refunds_reason_code"),
            "reason_code IN (" + ", ".join(f"'{r}'" for r in REASONS) + ")",
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_refunds_reason_code"), type_="check")
        batch_op.drop_column("reason_code")
