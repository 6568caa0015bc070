"""The demo city: a platform, a regulator, 30 verified merchants with their catalogue, and
residents with realistic names. Deterministic for a given seed, so what is seen in the demo can
be reproduced."""

from __future__ import annotations

import random

from faker import Faker
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts import service
from linli.accounts.models import Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.demo.communities import NEIGHBOURHOODS, seed_communities, settle_residents
from linli.demo.merchants import DOMESTIC, EXPORTERS, seed_merchants
from linli.files.service import FileStore
from linli.phone import normalize_mobile
from linli.security import hash_password

DEMO_PASSWORD = "linli-demo-2026"  # noqa: S105 (printed for the demo on purpose)
ADMIN_PHONE = "13800000001"
REGULATOR_PHONE = "13800000002"
INSPECTOR_PHONE = "13800000003"
MERCHANT_PHONE = "13800000004"
RESIDENT_PHONE = "13800000005"
EXPORTER_PHONE = "13800000006"
LEADER_PHONE = "13800000007"
DRAW_INSPECTORS = (("13800000008", "抽查检查员甲"), ("13800000009", "抽查检查员乙"))
# Online services (demo/services.py): the training school's and the clinic's practitioners.
SCHOOL = "启明教育"
CLINIC = "仁心在线医疗"
TEACHER_PHONE = "13800000010"
DOCTOR_PHONE = "13800000011"
PHARMACIST_PHONE = "13800000012"
PRACTITIONERS = (
    ("teacher (training school)", TEACHER_PHONE, "林雪老师", SCHOOL),
    ("doctor (online clinic)", DOCTOR_PHONE, "周建国医生", CLINIC),
    ("pharmacist (online clinic)", PHARMACIST_PHONE, "吴静药师", CLINIC),
)

# Pudong New Area, Shanghai (GB/T 2260).
REGION = ("310000", "310100", "310115")


class People:
    """Creates demo users fast: the password is hashed once and shared by every demo account."""

    def __init__(self, session: AsyncSession, fake: Faker) -> None:
        self.session = session
        self.fake = fake
        self.password_hash = hash_password(DEMO_PASSWORD)
        self.used: set[str] = set()

    async def add(self, phone: str | None = None, name: str | None = None) -> User:
        user = await service.signup(
            self.session,
            Actor.for_system(),
            phone=phone or self.fresh_phone(),
            password=DEMO_PASSWORD,
            display_name=name or self.fake.name(),
            password_hash=self.password_hash,
        )
        self.used.add(user.phone)
        return user

    def fresh_phone(self) -> str:
        while True:
            phone = self.fake.phone_number()
            normalized = normalize_mobile(phone)
            if normalized and normalized not in self.used and not phone.startswith("138000"):
                return phone


async def seed_city(
    session: AsyncSession,
    *,
    seed: int,
    file_store: FileStore,
    console: Console | None = None,
    residents: int = 2000,
) -> list[tuple[str, str, str]]:
    """Create the demo city; returns (role, name, phone) logins to try."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    system = Actor.for_system()
    people = People(session, fake)
    logins: list[tuple[str, str, str]] = []

    platform = await service.create_organisation(
        session, system, kind="platform", name="邻里平台运营中心"
    )
    admin = await people.add(ADMIN_PHONE)
    await service.grant_role(
        session, system, organisation_id=platform.id, phone=ADMIN_PHONE, role="admin"
    )
    logins.append(("platform admin", admin.display_name, ADMIN_PHONE))

    regulator = await service.create_organisation(
        session,
        system,
        kind="regulator",
        name="上海市浦东新区市场监督管理局",
        province_code=REGION[0],
        city_code=REGION[1],
        district_code=REGION[2],
    )
    supervisor = await people.add(REGULATOR_PHONE)
    inspector = await people.add(INSPECTOR_PHONE)
    await service.grant_role(
        session, system, organisation_id=regulator.id, phone=REGULATOR_PHONE, role="supervisor"
    )
    await service.grant_role(
        session, system, organisation_id=regulator.id, phone=INSPECTOR_PHONE, role="inspector"
    )
    # Two more inspectors, so that every merchant the random draw picks has two inspectors
    # without a conflict of interest after the demo's cases (docs/supervision.md "Inspectors").
    for phone, name in DRAW_INSPECTORS:
        await people.add(phone, name)
        await service.grant_role(
            session, system, organisation_id=regulator.id, phone=phone, role="inspector"
        )
    logins.append(("regulator supervisor", supervisor.display_name, REGULATOR_PHONE))
    logins.append(("regulator inspector", inspector.display_name, INSPECTOR_PHONE))

    owners = [await people.add(MERCHANT_PHONE)]
    owners += [await people.add() for _ in DOMESTIC[1:]]
    exporter_owners = [await people.add(EXPORTER_PHONE)]
    exporter_owners += [await people.add() for _ in EXPORTERS[1:]]
    pending_applicant = await people.add()
    logins.append(("merchant owner (fruit)", owners[0].display_name, MERCHANT_PHONE))
    logins.append(("foreign-trade owner", exporter_owners[0].display_name, EXPORTER_PHONE))

    reviewer = Actor(
        user=UserRef.of(admin),
        roles=frozenset({"admin"}),
        organisation=OrganisationRef.of(platform),
    )
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("Merchants and catalogue", total=len(DOMESTIC) + len(EXPORTERS))
        merchants, skus = await seed_merchants(
            session,
            file_store,
            reviewer=reviewer,
            owners=owners,
            exporter_owners=exporter_owners,
            pending_applicant=pending_applicant,
            rng=rng,
            fake=fake,
            progress=lambda n: progress.advance(task, n),
        )
        leaders = [await people.add(LEADER_PHONE)]
        leaders += [await people.add() for _ in NEIGHBOURHOODS[1:]]
        logins.append(("group leader", leaders[0].display_name, LEADER_PHONE))
        places = await seed_communities(session, reviewer=reviewer, leaders=leaders, rng=rng)
        resident = await people.add(RESIDENT_PHONE)
        logins.append(("resident", resident.display_name, RESIDENT_PHONE))
        task = progress.add_task("Residents", total=residents)
        neighbours = [resident]
        for _ in range(residents - 1):
            neighbours.append(await people.add())
            progress.advance(task)
        await settle_residents(session, neighbours, places, rng)
        progress.advance(task)
    for role, phone, name, organisation in PRACTITIONERS:
        await people.add(phone, name)
        organisation_id = await session.scalar(
            select(Organisation.id).where(Organisation.name == organisation)
        )
        assert organisation_id is not None, organisation
        await service.grant_role(
            session, system, organisation_id=organisation_id, phone=phone, role="staff"
        )
        logins.append((role, name, phone))
    if console is not None:
        console.print(
            f"Seeded {len(people.used)} people, {merchants} merchants and {skus} SKUs; "
            f"{len(places)} communities with their group leaders."
        )
    return logins
