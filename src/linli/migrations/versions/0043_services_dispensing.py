"""services: a prescription's dispensing is recorded (who, when), once, only after a
pharmacist's approval and within its validity (issue 17)

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services_prescriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dispensed_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "dispensed_by_user_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_services_prescriptions_dispensed_by_user_id_users"),
            "users",
            ["dispensed_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("services_prescriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_services_prescriptions_dispensed_by_user_id_users"),
            type_="foreignkey",
        )
        batch_op.drop_column("dispensed_by_user_id")
        batch_op.drop_column("dispensed_at")
