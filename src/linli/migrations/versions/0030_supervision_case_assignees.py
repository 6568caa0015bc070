"""supervision: the inspector each "assigned" case entry gave the case, so that every inspector
a case ever had stays conflicted for its merchant in random draws (back-filled from the
entries' "user:N" text)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 02:20:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSIGNED = re.compile(r"^user:(\d+)\b")


def upgrade() -> None:
    with op.batch_alter_table("supervision_case_entries") as batch:
        batch.add_column(
            sa.Column(
                "assignee_user_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch.create_foreign_key(
            "fk_supervision_case_entries_assignee_user_id_users",
            "users",
            ["assignee_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_supervision_case_entries_assignee_user_id", ["assignee_user_id"])
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, text FROM supervision_case_entries WHERE kind = 'assigned'")
    ).all()
    users = {int(u) for u in bind.execute(sa.text("SELECT id FROM users")).scalars()}
    for entry_id, text in rows:
        found = ASSIGNED.match(text or "")
        if found and int(found.group(1)) in users:
            bind.execute(
                sa.text(
                    "UPDATE supervision_case_entries SET assignee_user_id = :user WHERE id = :id"
                ),
                {"user": int(found.group(1)), "id": entry_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("supervision_case_entries") as batch:
        batch.drop_index("ix_supervision_case_entries_assignee_user_id")
        batch.drop_constraint(
            "fk_supervision_case_entries_assignee_user_id_users", type_="foreignkey"
        )
        batch.drop_column("assignee_user_id")
