"""services: the catalogue's categories: weekly sessions, slots and courses carry a category of
the tree (a consultation under `medical`, a class or a course under `education`); training's
categories beside `courses` under `education` (subject tutoring; arts, sports, technology),
which a course's subject-training flag is read from (issue 17)

Existing rows: consultations -> `consultations`, classes -> `courses`, courses -> `courses`,
or `subject_tutoring` for a course sold as subject training (its prepaid check stays the same).

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-06 22:30:39
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("services_weekly_slots", "services_slots", "services_courses")
# Frozen here (categories.tree installs the same at start): code, parent, type, names, sort.
CATEGORIES = (
    ("education", None, "education", "Education services", "教育服务", 20),
    ("courses", "education", "education", "Courses", "课程培训", 21),
    ("medical", None, "medical", "Medical services", "医疗服务", 22),
    ("consultations", "medical", "medical", "Online consultations", "在线问诊", 23),
    ("subject_tutoring", "education", "education", "Subject tutoring", "学科类培训", 26),
    ("arts_training", "education", "education", "Culture and arts training", "文化艺术培训", 27),
    ("sports_training", "education", "education", "Sports training", "体育培训", 28),
    (
        "technology_training",
        "education",
        "education",
        "Science and technology training",
        "科技培训",
        29,
    ),
)


def _ensure_categories(connection: sa.Connection) -> dict[str, int]:
    """The categories the defaults name, added where an installation lacks them (its tree is
    installed at start; a database never started has no services rows either)."""
    categories = sa.table(
        "categories",
        sa.column("id", ID),
        sa.column("code", sa.String),
        sa.column("parent_id", ID),
        sa.column("consumption_type", sa.String),
        sa.column("name_en", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("sort", sa.Integer),
    )
    found = connection.execute(sa.select(categories.c.code, categories.c.id)).all()
    ids: dict[str, int] = {str(code): int(key) for code, key in found}
    rows = sum(
        connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
        for table in TABLES
    )
    if not ids and not rows:
        return ids
    for code, parent, kind, name_en, name_zh, sort in CATEGORIES:
        if code in ids:
            continue
        connection.execute(
            categories.insert().values(
                code=code,
                parent_id=ids[parent] if parent else None,
                consumption_type=kind,
                name_en=name_en,
                name_zh=name_zh,
                sort=sort,
            )
        )
        ids[code] = connection.execute(
            sa.select(categories.c.id).where(categories.c.code == code)
        ).scalar_one()
    return ids


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("category_id", ID, nullable=True))
    ids = _ensure_categories(op.get_bind())
    if ids:
        for name in ("services_weekly_slots", "services_slots"):
            offerings = sa.table(name, sa.column("kind", sa.String), sa.column("category_id", ID))
            op.execute(
                offerings.update().values(
                    category_id=sa.case(
                        (offerings.c.kind == "consultation", ids["consultations"]),
                        else_=ids["courses"],
                    )
                )
            )
        courses = sa.table(
            "services_courses",
            sa.column("subject_training", sa.Boolean),
            sa.column("category_id", ID),
        )
        op.execute(
            courses.update().values(
                category_id=sa.case(
                    (courses.c.subject_training.is_(True), ids["subject_tutoring"]),
                    else_=ids["courses"],
                )
            )
        )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("category_id", existing_type=ID, nullable=False)
            if table != "services_weekly_slots":
                batch_op.create_index(batch_op.f(f"ix_{table}_category_id"), ["category_id"])
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_category_id_categories"),
                "categories",
                ["category_id"],
                ["id"],
            )


def downgrade() -> None:
    # The categories stay: reference data, which products may name too.
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_category_id_categories"), type_="foreignkey"
            )
            if table != "services_weekly_slots":
                batch_op.drop_index(batch_op.f(f"ix_{table}_category_id"))
            batch_op.drop_column("category_id")
