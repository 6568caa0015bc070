"""trace: a capture job records its captureErrorBehaviour (EPCIS 2.0 REST binding): `rollback`
(all or nothing, the default) or `proceed` (the valid events are stored, the others named in
the job's errors).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trace_captures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "error_behaviour", sa.String(length=10), server_default="rollback", nullable=False
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_trace_captures_error_behaviour"),
            sa.text("error_behaviour IN ('rollback', 'proceed')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_captures", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_trace_captures_error_behaviour"), type_="check")
        batch_op.drop_column("error_behaviour")
