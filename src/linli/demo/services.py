"""Online services in the demo city, played through the services at moved clocks: a training
school's Wednesday-evening course in progress (residents enrolled and paid into escrow, the
classes so far delivered with their attendance and released from escrow one by one, a
no-show, one refund of the classes not delivered) and a clinic's follow-up consultations
(diagnosis documents accepted, prescriptions written by the doctor and approved by the
clinic's pharmacist, one patient referred offline, one prescription left unreviewed), with
consultation slots and classes still to book from today."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.config import Settings
from linli.demo.history import pay_in_sandbox
from linli.demo.seed import (
    CLINIC,
    DOCTOR_PHONE,
    PHARMACIST_PHONE,
    RESIDENT_PHONE,
    SCHOOL,
    TEACHER_PHONE,
)
from linli.outbox import Dispatcher
from linli.rules.workdays import local_date
from linli.services import booking, courses, medical, practitioners, room
from linli.services.models import Booking, Slot
from linli.services.room import credential_tail
from linli.services.schemas import (
    CourseIn,
    DiagnosisIn,
    GenerateIn,
    PractitionerIn,
    PrescriptionIn,
    WeeklySlotIn,
)
from linli.services.states import BookingStatus, CredentialKind, DrugClass, Mode, SlotKind

LOCAL = clock.LOCAL
WEDNESDAY = 2  # slots are made on working days only (rules.workdays)
COURSE_CLASSES = 8
CLASS_PRICE_FEN = 15_000  # ¥150 a class: ¥1,200 for the course, within the prepaid limits
CONSULTATION_DAYS = (1, 3)  # Tuesday and Thursday afternoons
CONSULTATION_TIMES = ("14:00", "14:30", "15:00")
# Follow-ups of conditions diagnosed in person, and what the doctor prescribes for each.
FOLLOW_UPS = (
    ("上海市第六人民医院", "2型糖尿病", ("二甲双胍缓释片", "0.5 g 每日两次，随餐", 60, "片")),
    ("复旦大学附属中山医院", "原发性高血压", ("苯磺酸氨氯地平片", "5 mg 每日一次", 28, "片")),
    ("上海市东方医院", "慢性胃炎", ("铝碳酸镁咀嚼片", "1 g 每日三次，饭后嚼服", 36, "片")),
    ("浦东新区人民医院", "高脂血症", ("阿托伐他汀钙片", "20 mg 每晚一次", 28, "片")),
)


@dataclass
class ServiceFigures:
    classes_delivered: int = 0
    enrolments: int = 0
    refunds: int = 0
    consultations: int = 0
    prescriptions_approved: int = 0
    dispensed: int = 0
    prescriptions_waiting: int = 0
    referrals: int = 0


@dataclass(frozen=True)
class _Provider:
    owner: Actor
    staff: dict[str, Actor]  # by phone


async def _provider(session: AsyncSession, name: str, phones: tuple[str, ...]) -> _Provider | None:
    organisation = await session.scalar(select(Organisation).where(Organisation.name == name))
    if organisation is None:
        return None
    ref = OrganisationRef.of(organisation)
    rows = (
        await session.execute(
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation.id)
        )
    ).all()
    owner = next((user for user, role in rows if role == "owner"), None)
    staff = {
        phone: Actor(user=UserRef.of(user), organisation=ref, roles=frozenset({"staff"}))
        for user, role in rows
        for phone in phones
        if role == "staff" and user.phone.endswith(phone)
    }
    if owner is None or len(staff) != len(phones):
        return None
    return _Provider(
        Actor(user=UserRef.of(owner), organisation=ref, roles=frozenset({"owner"})), staff
    )


async def _clients(session: AsyncSession, n: int) -> list[Actor]:
    """The demo resident, then the neighbours who joined last (no organisation's members)."""
    resident = await session.scalar(select(User).where(User.phone.endswith(RESIDENT_PHONE)))
    members = select(Membership.user_id)
    others = (
        await session.scalars(
            select(User)
            .where(User.id.not_in(members), User.phone.not_like(f"%{RESIDENT_PHONE}"))
            .order_by(User.id.desc())
            .limit(n - 1)
        )
    ).all()
    users = ([resident] if resident is not None else []) + list(others)
    return [Actor(user=UserRef.of(user), roles=frozenset()) for user in users]


def _at(day: date, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), LOCAL).astimezone(UTC)


async def _register(
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: _Provider,
    phone: str,
    name: str,
    kind: CredentialKind,
    number: str,
) -> int:
    async with sessionmaker() as session, session.begin():
        row = await practitioners.register_practitioner(
            session,
            provider.owner,
            PractitionerIn(
                phone=phone,
                real_name=name,
                credential_kind=kind,
                credential_number=number,
                practising_since=date(2009, 7, 1) if kind == CredentialKind.DOCTOR else None,
            ),
        )
        return row.id


async def _class_bookings(session: AsyncSession, slot_id: int) -> list[Booking]:
    return list(
        (
            await session.scalars(
                select(Booking)
                .where(Booking.slot_id == slot_id, Booking.status == BookingStatus.SCHEDULED)
                .order_by(Booking.id)
            )
        ).all()
    )


async def _school(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    rng: random.Random,
    dispatcher: Dispatcher,
    clients: list[Actor],
    figures: ServiceFigures,
) -> None:
    """A weekly course whose first three or four classes are behind us."""
    async with sessionmaker() as session:
        school = await _provider(session, SCHOOL, (TEACHER_PHONE,))
    if school is None:
        return
    teacher_actor = school.staff[TEACHER_PHONE]
    real_now = datetime.now(UTC)
    today = real_now.astimezone(LOCAL).date()
    first = today - timedelta(days=24)
    first += timedelta(days=(WEDNESDAY - first.weekday()) % 7)
    last = first + timedelta(weeks=COURSE_CLASSES - 1)
    with clock.frozen(_at(first - timedelta(days=6), "10:00")) as frozen:
        teacher = await _register(
            sessionmaker, school, TEACHER_PHONE, "林雪", CredentialKind.TEACHER, "教师资格20143101"
        )
        async with sessionmaker() as session, session.begin():
            weekly = await practitioners.add_weekly_slot(
                session,
                school.owner,
                teacher,
                WeeklySlotIn(
                    title="少儿围棋启蒙班（周三晚）",
                    weekday=WEDNESDAY,
                    start="18:30",
                    duration_minutes=60,
                    kind=SlotKind.CLASS,
                    mode=Mode.OFFLINE,
                    capacity=12,
                    for_minors=True,
                    category="arts_training",  # Go: culture and arts, non-subject training
                ),
            )
            await practitioners.generate_slots(
                session, school.owner, teacher, GenerateIn(first_day=first, last_day=last)
            )
            course = await courses.create_course(
                session,
                school.owner,
                CourseIn(
                    title="少儿围棋启蒙班（秋季）",
                    weekly_slot_id=weekly.id,
                    first_day=first,
                    last_day=last,
                    price_per_class_fen=CLASS_PRICE_FEN,
                    category="arts_training",
                ),
            )
        enrolled: list[tuple[Actor, int]] = []
        for client in clients:
            frozen.advance(timedelta(minutes=rng.randint(5, 90)))
            async with sessionmaker() as session, session.begin():
                made = await courses.enrol(session, client, course.id)
            await pay_in_sandbox(
                sessionmaker, settings, made.intent.public_id, made.intent.amount_fen
            )
            enrolled.append((client, made.enrolment.id))
        frozen.advance(timedelta(minutes=1))
        await dispatcher.run_once()  # paid: into the school's escrow account
        figures.enrolments = len(enrolled)
        async with sessionmaker() as session:
            slots = (
                await session.scalars(
                    select(Slot)
                    .where(Slot.weekly_slot_id == weekly.id, Slot.ends_at < real_now)
                    .order_by(Slot.starts_at)
                )
            ).all()
        for slot in slots:  # each class delivered: attendance, then the fee out of escrow
            frozen.set(slot.starts_at + timedelta(minutes=rng.randint(-10, 5)))
            async with sessionmaker() as session, session.begin():
                attending = await _class_bookings(session, slot.id)
                # the teacher's real-name check before the class (check-in needs it)
                await room.confirm_identity(
                    session, teacher_actor, slot.id, "林雪", credential_tail("教师资格20143101")
                )
                absent = rng.randrange(len(attending)) if rng.random() < 0.5 else None
                for n, row in enumerate(attending):
                    if n != absent:
                        await courses.check_in(session, teacher_actor, row.id)
            frozen.set(slot.ends_at - timedelta(minutes=2))
            async with sessionmaker() as session, session.begin():
                for row in await _checked_in(session, slot.id):
                    await courses.complete(session, teacher_actor, row.id)
            frozen.set(slot.ends_at + timedelta(minutes=1))
            await dispatcher.run_once()  # the absent pupil's no-show
            figures.classes_delivered += 1
    # A family moving away gives up the classes still to come: refunded pro rata.
    if len(enrolled) > 1:
        leaving, enrolment_id = enrolled[-1]
        async with sessionmaker() as session, session.begin():
            await courses.refund_unconsumed(session, leaving, enrolment_id)
        figures.refunds += 1


async def _checked_in(session: AsyncSession, slot_id: int) -> list[Booking]:
    return list(
        (
            await session.scalars(
                select(Booking)
                .where(Booking.slot_id == slot_id, Booking.status == BookingStatus.CHECKED_IN)
                .order_by(Booking.id)
            )
        ).all()
    )


async def _clinic(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    rng: random.Random,
    clients: list[Actor],
    figures: ServiceFigures,
) -> None:
    """Two weeks of Tuesday and Thursday follow-ups behind us and two ahead."""
    async with sessionmaker() as session:
        clinic = await _provider(session, CLINIC, (DOCTOR_PHONE, PHARMACIST_PHONE))
    if clinic is None:
        return
    doctor_actor = clinic.staff[DOCTOR_PHONE]
    pharmacist_actor = clinic.staff[PHARMACIST_PHONE]
    key = settings.resolved_secret_key()
    real_now = datetime.now(UTC)
    today = real_now.astimezone(LOCAL).date()
    start = today - timedelta(days=14)
    with clock.frozen(_at(start - timedelta(days=1), "09:00")) as frozen:
        doctor = await _register(
            sessionmaker, clinic, DOCTOR_PHONE, "周建国", CredentialKind.DOCTOR, "110310000012345"
        )
        await _register(
            sessionmaker,
            clinic,
            PHARMACIST_PHONE,
            "吴静",
            CredentialKind.PHARMACIST,
            "执业药师 S3101202",
        )
        async with sessionmaker() as session, session.begin():
            for weekday in CONSULTATION_DAYS:
                for hhmm in CONSULTATION_TIMES:
                    await practitioners.add_weekly_slot(
                        session,
                        clinic.owner,
                        doctor,
                        WeeklySlotIn(
                            title="慢病复诊（图文视频问诊）",
                            weekday=weekday,
                            start=hhmm,
                            duration_minutes=20,
                            kind=SlotKind.CONSULTATION,
                            mode=Mode.ONLINE,
                            capacity=1,
                            category="consultations",
                        ),
                    )
            await practitioners.generate_slots(
                session,
                clinic.owner,
                doctor,
                GenerateIn(first_day=start, last_day=today + timedelta(days=14)),
            )
            past = (
                await session.scalars(
                    select(Slot)
                    .where(Slot.practitioner_id == doctor, Slot.ends_at < real_now)
                    .order_by(Slot.starts_at)
                )
            ).all()
        # One patient per past afternoon (its first slot), each with their own follow-up.
        afternoons: dict[date, Slot] = {}
        for slot in past:
            afternoons.setdefault(local_date(slot.starts_at), slot)
        visits = list(afternoons.values())[: len(clients)]
        for n, slot in enumerate(visits):
            patient = clients[n]
            institution, condition, (drug, dosage, quantity, unit) = FOLLOW_UPS[n % len(FOLLOW_UPS)]
            async with sessionmaker() as session, session.begin():
                booked = await booking.book(
                    session,
                    patient,
                    slot.id,
                    diagnosis=DiagnosisIn(
                        institution=institution,
                        diagnosed_on=start - timedelta(days=rng.randint(60, 900)),
                        condition=condition,
                    ),
                )
            frozen.set(slot.starts_at - timedelta(minutes=10))
            async with sessionmaker() as session, session.begin():
                await medical.accept_document(session, doctor_actor, booked.id)
                await room.confirm_identity(
                    session, doctor_actor, slot.id, "周建国", credential_tail("110310000012345")
                )
                await booking.check_in(session, doctor_actor, booked.id)
            frozen.set(slot.starts_at + timedelta(minutes=8))
            figures.consultations += 1
            if n == 2:  # the condition changed: seen in person instead
                async with sessionmaker() as session, session.begin():
                    await medical.refer_offline(
                        session,
                        doctor_actor,
                        booked.id,
                        "血压控制不佳并伴头晕加重，建议线下心内科门诊就诊。",
                    )
                figures.referrals += 1
                continue
            async with sessionmaker() as session, session.begin():
                written = await medical.prescribe(
                    session,
                    doctor_actor,
                    key,
                    booked.id,
                    PrescriptionIn(
                        drug_name=drug,
                        drug_class=DrugClass.ORDINARY,
                        dosage=dosage,
                        quantity=quantity,
                        unit=unit,
                    ),
                )
            frozen.set(slot.starts_at + timedelta(minutes=16))
            async with sessionmaker() as session, session.begin():
                await booking.complete(session, doctor_actor, booked.id)
            if n == len(visits) - 1:
                figures.prescriptions_waiting += 1  # the last one waits in the review queue
                continue
            frozen.set(slot.starts_at + timedelta(minutes=rng.randint(25, 50)))
            async with sessionmaker() as session, session.begin():
                await medical.review(
                    session, pharmacist_actor, key, written.id, approve=True, note="用法用量适宜"
                )
                if n == 0:  # the demo resident's, collected at the clinic's pharmacy
                    await medical.dispense(session, pharmacist_actor, written.id)
                    figures.dispensed += 1
            figures.prescriptions_approved += 1


async def seed_services(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, seed: int
) -> ServiceFigures:
    rng = random.Random(seed + 17)
    figures = ServiceFigures()
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    async with sessionmaker() as session:
        clients = await _clients(session, 6)
    if not clients:
        return figures
    await _school(sessionmaker, settings, rng, dispatcher, clients, figures)
    await _clinic(sessionmaker, settings, rng, clients[:4], figures)
    await dispatcher.run_once()  # reminders and no-shows of the past are due
    return figures
