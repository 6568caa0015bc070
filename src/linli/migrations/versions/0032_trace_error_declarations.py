"""trace: EPCIS error declarations and capture warnings. An event's eventID is unique per
organisation among events and, separately, among error declarations (a declaration repeats the
eventID of the event it declares in error); capture jobs keep their warnings (user vocabulary,
events captured before).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trace_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_trace_events_organisation_id_event_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_trace_events_organisation_id_event_id_is_correction",
            ["organisation_id", "event_id", "is_correction"],
        )
    with op.batch_alter_table("trace_captures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "warnings",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_captures", schema=None) as batch_op:
        batch_op.drop_column("warnings")
    with op.batch_alter_table("trace_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_trace_events_organisation_id_event_id_is_correction", type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_trace_events_organisation_id_event_id", ["organisation_id", "event_id"]
        )
