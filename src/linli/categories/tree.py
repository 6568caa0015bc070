"""The category tree (loaded whole: it is small) and its consumption types, installed as
reference data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.categories.models import Category
from linli.db import request_memo
from linli.errors import ValidationFailed
from linli.i18n import N_, get_locale

# (code, parent code, consumption type, English, Chinese)
DEFAULT_CATEGORIES: tuple[tuple[str, str | None, str, str, str], ...] = (
    ("information", None, "information", "Information consumption", "信息消费"),
    ("smartphones", "information", "information", "Smartphones", "智能手机"),
    ("digital_home", "information", "information", "Digital home", "数字家庭"),
    ("wearables", "information", "information", "Wearables", "可穿戴设备"),
    ("software", "information", "information", "Software", "软件"),
    ("telecom_services", "information", "information", "Telecom services", "电信服务"),
    ("smart", None, "smart", "Smart consumption", "智能消费"),
    ("smart_home", "smart", "smart", "Smart home", "智能家居"),
    ("security", "smart", "smart", "Home security", "安防"),
    ("smart_driving", "smart", "smart", "Smart driving", "智能驾驶"),
    ("health", None, "health", "Health consumption", "健康消费"),
    ("health_food", "health", "health", "Health food", "保健食品"),
    ("fitness", "health", "health", "Fitness", "健身运动"),
    ("medical_devices", "health", "health", "Medical devices", "医疗器械"),
    ("essentials", None, "essentials", "Daily essentials", "生活必需品"),
    ("fresh_food", "essentials", "essentials", "Fresh food", "生鲜食品"),
    ("groceries", "essentials", "essentials", "Groceries", "粮油副食"),
    ("culture_tourism", None, "culture_tourism", "Culture and tourism", "文化旅游"),
    ("tickets", "culture_tourism", "culture_tourism", "Tickets and tours", "门票与旅游"),
    ("books", "culture_tourism", "culture_tourism", "Books and culture", "图书文创"),
    ("education", None, "education", "Education services", "教育服务"),
    ("courses", "education", "education", "Courses", "课程培训"),
    ("medical", None, "medical", "Medical services", "医疗服务"),
    ("consultations", "medical", "medical", "Online consultations", "在线问诊"),
    # On the negative list for this platform: present so applications naming them are refused.
    ("drugs", "health", "health", "Drugs", "药品"),
    ("tobacco", "essentials", "essentials", "Tobacco", "烟草"),
    # Off-campus training as the 2021-2022 rules divide it (subject vs non-subject), beside
    # `courses` (which stays a leaf products may name): a course's category says which it is,
    # and the prepaid limits read it (services.catalogue).
    ("subject_tutoring", "education", "education", "Subject tutoring", "学科类培训"),
    ("arts_training", "education", "education", "Culture and arts training", "文化艺术培训"),
    ("sports_training", "education", "education", "Sports training", "体育培训"),
    (
        "technology_training",
        "education",
        "education",
        "Science and technology training",
        "科技培训",
    ),
)


async def ensure_categories(session: AsyncSession) -> int:
    existing = {c.code: c for c in (await session.scalars(select(Category))).all()}
    added = 0
    for sort, (code, parent, kind, name_en, name_zh) in enumerate(DEFAULT_CATEGORIES):
        if code in existing:
            continue
        row = Category(
            code=code,
            parent_id=existing[parent].id if parent else None,
            consumption_type=kind,
            name_en=name_en,
            name_zh=name_zh,
            sort=sort,
        )
        session.add(row)
        await session.flush()
        existing[code] = row
        added += 1
    return added


@dataclass(frozen=True)
class CategoryNode:
    """A category as other domains read it."""

    id: int
    code: str
    parent_id: int | None
    consumption_type: str
    name_en: str
    name_zh: str
    sort: int


def category_name(category: CategoryNode) -> str:
    return category.name_zh if get_locale() == "zh_Hans" else category.name_en


@dataclass(frozen=True)
class CategoryTree:
    """The whole (small) category tree, loaded once per request."""

    rows: Sequence[CategoryNode]
    by_id: dict[int, CategoryNode] = field(init=False)
    by_code: dict[str, CategoryNode] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {c.id: c for c in self.rows})
        object.__setattr__(self, "by_code", {c.code: c for c in self.rows})

    def get(self, code: str, field_name: str = "category") -> CategoryNode:
        category = self.by_code.get(code)
        if category is None:
            raise ValidationFailed(
                N_("Unknown category: {category}."),
                category=code,
                code="unknown_category",
                fields={field_name: N_("Choose a category from the list.")},
            )
        return category

    def lineage(self, category: CategoryNode) -> list[CategoryNode]:
        """The category, its parent, and so on up to the root."""
        chain: list[CategoryNode] = []
        current: CategoryNode | None = category
        while current is not None and current not in chain:
            chain.append(current)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return chain

    def children(self, category: CategoryNode) -> list[CategoryNode]:
        return [c for c in self.rows if c.parent_id == category.id]

    def with_descendants(self, category: CategoryNode) -> set[int]:
        found: set[int] = set()
        stack = [category]
        while stack:
            current = stack.pop()
            if current.id in found:
                continue
            found.add(current.id)
            stack.extend(self.children(current))
        return found

    def is_under(self, category: CategoryNode, code: str) -> bool:
        """Whether `category` is the category `code` or lies below it."""
        return any(c.code == code for c in self.lineage(category))

    def type_root(self, consumption_type: str) -> CategoryNode | None:
        """The root category of a consumption type (it names the type in both languages)."""
        for c in self.rows:
            if c.parent_id is None and c.consumption_type == consumption_type:
                return c
        return None

    def consumption_types(self) -> list[CategoryNode]:
        """The roots, one per consumption type, in the tree's order."""
        return [c for c in self.rows if c.parent_id is None]

    def parent_code(self, category: CategoryNode) -> str | None:
        parent = self.by_id.get(category.parent_id) if category.parent_id else None
        return parent.code if parent else None


async def category_tree(session: AsyncSession) -> CategoryTree:
    """The tree (read once per reading request: a page and the search it runs both ask)."""
    memo = request_memo(session)
    if memo is not None and isinstance(kept := memo.get(_TREE), CategoryTree):
        return kept
    tree = await _read_tree(session)
    if memo is not None:
        memo[_TREE] = tree
    return tree


_TREE = "categories.tree"


async def _read_tree(session: AsyncSession) -> CategoryTree:
    rows = (await session.scalars(select(Category).order_by(Category.sort, Category.id))).all()
    return CategoryTree(
        [
            CategoryNode(
                id=c.id,
                code=c.code,
                parent_id=c.parent_id,
                consumption_type=c.consumption_type,
                name_en=c.name_en,
                name_zh=c.name_zh,
                sort=c.sort,
            )
            for c in rows
        ]
    )
