"""Supervision in the demo city (issue 13), played through the real services: a finished
double random inspection of Pudong's merchants with its results published on
/disclosure/inspections, and a resident's report forwarded by the platform to the Pudong
regulator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor
from linli.demo.history import _actor
from linli.demo.protection_complaints import _member, _user
from linli.demo.seed import ADMIN_PHONE, INSPECTOR_PHONE, REGION, REGULATOR_PHONE, RESIDENT_PHONE
from linli.supervision import plans, reports
from linli.supervision.plan_models import InspectionResult, InspectionType
from linli.supervision.report_models import ReporterRole

FINDINGS = {
    InspectionResult.PASSED: "",
    InspectionResult.ISSUES_FOUND: "冷柜温度记录缺两天，已当场要求补记并整改。",
    InspectionResult.FAILED: "部分预包装食品超过保质期仍在销售，已责令下架。",
}


async def _drawn(session: AsyncSession, user_id: int, regulator_id: int) -> Actor:
    """A drawn inspector (or supervisor) acting for the regulator."""
    user, organisation, role = (
        await session.execute(
            select(User, Organisation, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(User.id == user_id, Organisation.id == regulator_id)
        )
    ).one()
    return _actor(user, organisation, role)


@dataclass
class SupervisionFigures:
    inspected: int = 0
    reports: int = 0


async def seed_inspections_and_reports(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> SupervisionFigures:
    figures = SupervisionFigures()
    async with sessionmaker() as session:
        supervisor = await _member(session, REGULATOR_PHONE)
        inspector = await _member(session, INSPECTOR_PHONE)
        operator = await _member(session, ADMIN_PHONE)
        resident = await _user(session, RESIDENT_PHONE)
        if supervisor is None or inspector is None or operator is None or resident is None:
            return figures
        today = clock.now().astimezone(clock.LOCAL).date()
        plan = await plans.create_plan(
            session,
            supervisor,
            plans.PlanInput(
                name="浦东新区食品经营者双随机抽查（演示）",
                inspection_type=InspectionType.FOOD_SAFETY,
                period_start=today - timedelta(days=14),
                period_end=today + timedelta(days=30),
                target_count=3,
            ),
            seed=f"demo-{seed}",
        )
        await plans.draw(session, supervisor, plan.id)
        drawn = await plans.targets(session, plan)
        await session.commit()
        for row, result in zip(drawn, InspectionResult, strict=False):
            who = await _drawn(session, row.inspectors[0], plan.regulator_organisation_id)
            await plans.record_result(
                session,
                who,
                row.target.id,
                plans.ResultInput(result=result, findings=FINDINGS[result], inspected_on=today),
            )
            figures.inspected += 1
        await session.commit()
        merchant = await session.scalar(
            select(Organisation.id)
            .where(Organisation.kind == "merchant", Organisation.district_code == REGION[2])
            .order_by(Organisation.id)
        )
        if merchant is None:
            return figures
        report = await reports.file_report(
            session,
            _actor(resident),
            reports.ReportInput(
                merchant_organisation_id=int(merchant),
                description="店里的散装大米没有标明产地和生产日期，称重时秤的读数也偏高。",
                role=ReporterRole.RESIDENT,
                product_name="散装大米",
            ),
        )
        await session.commit()
        await reports.forward(session, operator, report.id)
        await session.commit()
        figures.reports += 1
    return figures
