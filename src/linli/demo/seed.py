"""The demo city: a platform, a regulator, merchants and residents with realistic names.

Deterministic for a given seed, so a bug seen in the demo can be reproduced.
"""

from __future__ import annotations

import random

from faker import Faker
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts import service
from linli.accounts.phone import normalize_mobile
from linli.authz import Actor

DEMO_PASSWORD = "linli-demo-2026"  # noqa: S105 (printed for the demo on purpose)
ADMIN_PHONE = "13800000001"
REGULATOR_PHONE = "13800000002"
INSPECTOR_PHONE = "13800000003"
MERCHANT_PHONE = "13800000004"
RESIDENT_PHONE = "13800000005"

# Pudong New Area, Shanghai (GB/T 2260).
REGION = ("310000", "310100", "310115")
MERCHANT_NAMES = (
    "浦东鲜果合作社",
    "张江邻里生鲜",
    "金桥粮油店",
    "陆家嘴智能家居",
    "川沙农家菜园",
    "周浦海鲜冷链",
    "外高桥外贸优选",
    "惠南健康食品",
)


async def seed_city(
    session: AsyncSession, *, seed: int, console: Console | None = None, residents: int = 40
) -> list[tuple[str, str, str]]:
    """Create the demo organisations and people; returns (role, name, phone) logins to try."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    system = Actor.for_system()
    logins: list[tuple[str, str, str]] = []
    used: set[str] = set()

    async def person(phone: str, name: str) -> str:
        user = await service.signup(
            session, system, phone=phone, password=DEMO_PASSWORD, display_name=name
        )
        used.add(user.phone)
        return phone

    platform = await service.create_organisation(
        session, system, kind="platform", name="邻里平台运营中心"
    )
    admin_name = fake.name()
    await person(ADMIN_PHONE, admin_name)
    await service.grant_role(
        session, system, organisation_id=platform.id, phone=ADMIN_PHONE, role="admin"
    )
    logins.append(("platform admin", admin_name, ADMIN_PHONE))

    regulator = await service.create_organisation(
        session,
        system,
        kind="regulator",
        name="上海市浦东新区市场监督管理局",
        province_code=REGION[0],
        city_code=REGION[1],
        district_code=REGION[2],
    )
    supervisor_name, inspector_name = fake.name(), fake.name()
    await person(REGULATOR_PHONE, supervisor_name)
    await person(INSPECTOR_PHONE, inspector_name)
    await service.grant_role(
        session, system, organisation_id=regulator.id, phone=REGULATOR_PHONE, role="supervisor"
    )
    await service.grant_role(
        session, system, organisation_id=regulator.id, phone=INSPECTOR_PHONE, role="inspector"
    )
    logins.append(("regulator supervisor", supervisor_name, REGULATOR_PHONE))
    logins.append(("regulator inspector", inspector_name, INSPECTOR_PHONE))

    for index, merchant_name in enumerate(MERCHANT_NAMES):
        foreign_trade = "外贸" in merchant_name
        organisation = await service.create_organisation(
            session,
            system,
            kind="supplier" if foreign_trade else "merchant",
            name=merchant_name,
            foreign_trade=foreign_trade,
            province_code=REGION[0],
            city_code=REGION[1],
            district_code=REGION[2],
        )
        owner_phone = MERCHANT_PHONE if index == 0 else _fresh_phone(fake, used)
        owner_name = fake.name()
        await person(owner_phone, owner_name)
        await service.grant_role(
            session, system, organisation_id=organisation.id, phone=owner_phone, role="owner"
        )
        if index == 0:
            logins.append(("merchant owner", owner_name, owner_phone))
        if rng.random() < 0.5:
            staff_phone = _fresh_phone(fake, used)
            await person(staff_phone, fake.name())
            await service.grant_role(
                session, system, organisation_id=organisation.id, phone=staff_phone, role="staff"
            )

    resident_name = fake.name()
    await person(RESIDENT_PHONE, resident_name)
    logins.append(("resident", resident_name, RESIDENT_PHONE))
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("Residents", total=residents - 1)
        for _ in range(residents - 1):
            await person(_fresh_phone(fake, used), fake.name())
            progress.advance(task)
    if console is not None:
        console.print(f"Seeded {len(used)} people and {len(MERCHANT_NAMES) + 2} organisations.")
    return logins


def _fresh_phone(fake: Faker, used: set[str]) -> str:
    while True:
        phone = fake.phone_number()
        normalized = normalize_mobile(phone)
        if normalized is not None and normalized not in used and not phone.startswith("138000"):
            return phone
