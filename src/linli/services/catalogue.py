"""The services catalogue's categories: every offering (a weekly session and the slots made
from it, a course) lies in the category tree (`linli.categories`), a consultation under
`medical`, a class or a course under `education`, so services are browsed and counted by
consumption type as goods are.

Subject training (学科类) is the category `subject_tutoring` or one below it; the other
training categories under `education` (arts, sports, technology), `courses` and `education`
itself are non-subject training, which the prepaid rule caps per collection (`prepaid.py`).
A course's `subject_training` flag is read from its category when it is made
(docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli.categories.tree import CategoryNode, CategoryTree, category_name, category_tree
from linli.errors import ValidationFailed
from linli.i18n import N_, get_locale
from linli.services.states import SlotKind

EDUCATION = "education"
MEDICAL = "medical"
COURSES = "courses"
CONSULTATIONS = "consultations"
SUBJECT_TUTORING = "subject_tutoring"
# The root an offering's category must lie under, and the category it gets when none is named.
ROOT_OF_KIND = {SlotKind.CLASS: EDUCATION, SlotKind.CONSULTATION: MEDICAL}
DEFAULT_OF_KIND = {SlotKind.CLASS: COURSES, SlotKind.CONSULTATION: CONSULTATIONS}
SERVICE_TYPES = (EDUCATION, MEDICAL)  # the consumption types services are sold under


def _outside(kind: SlotKind, field: str) -> ValidationFailed:
    if kind == SlotKind.CONSULTATION:
        return ValidationFailed(
            N_("A consultation's category must lie under Medical services."),
            code="category_outside_root",
            fields={field: N_("Choose a category under Medical services.")},
        )
    return ValidationFailed(
        N_("A class or a course's category must lie under Education services."),
        code="category_outside_root",
        fields={field: N_("Choose a category under Education services.")},
    )


async def offering_category(
    session: AsyncSession, code: str | None, kind: SlotKind, field: str = "category"
) -> CategoryNode:
    """The category named by `code` (default: `courses` for a class, `consultations` for a
    consultation), 422 unless it lies under the kind's root."""
    tree = await category_tree(session)
    category = tree.get(code or DEFAULT_OF_KIND[kind], field)
    if not tree.is_under(category, ROOT_OF_KIND[kind]):
        raise _outside(kind, field)
    return category


def is_subject_training(tree: CategoryTree, category: CategoryNode) -> bool:
    return tree.is_under(category, SUBJECT_TUTORING)


async def course_category(
    session: AsyncSession, code: str | None, subject_training: bool | None
) -> tuple[CategoryNode, bool]:
    """A course's category and whether it is subject training. Without a category, the flag
    names one (`subject_tutoring`, else `courses`); with both, they must agree (422
    `subject_category_mismatch`)."""
    if code is None:
        code = SUBJECT_TUTORING if subject_training else COURSES
    category = await offering_category(session, code, SlotKind.CLASS)
    subject = is_subject_training(await category_tree(session), category)
    if subject_training is not None and subject_training != subject:
        raise ValidationFailed(
            N_("Subject training is the category Subject tutoring: the two disagree."),
            code="subject_category_mismatch",
            fields={"subject_training": N_("Does not match the category.")},
        )
    return category, subject


async def matching_category_ids(
    session: AsyncSession, category: str | None, consumption_type: str | None
) -> set[int] | None:
    """The categories a catalogue filter keeps (None: no filter): `category` with those
    below it, of `consumption_type`; 422 for an unknown category."""
    if not category and not consumption_type:
        return None
    tree = await category_tree(session)
    ids = {c.id for c in tree.rows}
    if category:
        ids &= tree.with_descendants(tree.get(category))
    if consumption_type:
        ids &= {c.id for c in tree.rows if c.consumption_type == consumption_type}
    return ids


@dataclass(frozen=True)
class OfferingCategory:
    """An offering's category and consumption type, named in both languages."""

    code: str
    name_en: str
    name_zh: str
    consumption_type: str
    type_name_en: str
    type_name_zh: str

    @property
    def name(self) -> str:
        return self.name_zh if get_locale() == "zh_Hans" else self.name_en

    @property
    def type_name(self) -> str:
        return self.type_name_zh if get_locale() == "zh_Hans" else self.type_name_en


def describe(tree: CategoryTree, category: CategoryNode) -> OfferingCategory:
    root = tree.type_root(category.consumption_type) or category
    return OfferingCategory(
        code=category.code,
        name_en=category.name_en,
        name_zh=category.name_zh,
        consumption_type=category.consumption_type,
        type_name_en=root.name_en,
        type_name_zh=root.name_zh,
    )


async def categories_of(
    session: AsyncSession, category_ids: Iterable[int]
) -> dict[int, OfferingCategory]:
    """The categories of offerings, by id (read from the request's tree: no query per row)."""
    tree = await category_tree(session)
    return {i: describe(tree, tree.by_id[i]) for i in set(category_ids) if i in tree.by_id}


async def filter_choices(session: AsyncSession) -> list[dict[str, object]]:
    """The catalogue's filter: the service roots and their categories, named in the reader's
    language."""
    tree = await category_tree(session)
    choices: list[dict[str, object]] = []
    for code in SERVICE_TYPES:
        root = tree.by_code.get(code)
        if root is None:
            continue
        below = sorted(tree.with_descendants(root) - {root.id}, key=lambda i: tree.by_id[i].sort)
        choices.append(
            {
                "code": root.code,
                "name": category_name(root),
                "children": [
                    {"code": tree.by_id[i].code, "name": category_name(tree.by_id[i])}
                    for i in below
                ],
            }
        )
    return choices


async def choices_under(session: AsyncSession, root_code: str) -> list[dict[str, object]]:
    """The categories below one service root, named in the reader's language (a form's
    choices), `courses` / `consultations` first as the default."""
    for root in await filter_choices(session):
        if root["code"] == root_code:
            children = root["children"]
            assert isinstance(children, list)
            return sorted(children, key=lambda c: c["code"] not in DEFAULT_OF_KIND.values())
    return []
