"""The category tree and its consumption types, installed as reference data."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog.models import Category

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
