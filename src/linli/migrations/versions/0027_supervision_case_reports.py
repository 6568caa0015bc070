"""supervision: a case may come from a forwarded report (one case per report)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supervision_cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_supervision_cases_report_id"), ["report_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_supervision_cases_report_id_supervision_reports"),
            "supervision_reports",
            ["report_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("supervision_cases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_supervision_cases_report_id_supervision_reports"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_supervision_cases_report_id"), type_="unique")
        batch_op.drop_column("report_id")
