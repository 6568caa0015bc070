"""Reading the supervision rule in force for a merchant; editing a jurisdiction's rules.

Jurisdictions are GB/T 2260 codes: a district's version beats its city's, its province's, then
the national ("CN") default. A regulator edits the version of its own jurisdiction (its
district, else city, else province code); each edit is a new version with its author and
reason, effective from a given moment (a future one: scheduled, not yet in force)."""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import SUPERVISION_READ, SUPERVISION_RULES, Actor, acting_organisation
from linli.categories.tree import category_tree
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_, Message
from linli.protection.complaint_policies import covering_regulator
from linli.rules.defaults import SINCE
from linli.supervision.rule_defaults import BUILT_INS, BY_ID, CATEGORIES, Param
from linli.supervision.rule_models import SupervisionRuleVersion

NATIONAL = "CN"
REGULATOR = "regulator"


@dataclass(frozen=True)
class RuleInForce:
    rule_id: str
    version: int
    jurisdiction: str
    severity: str
    params: dict[str, Any]

    @classmethod
    def of(cls, row: SupervisionRuleVersion) -> RuleInForce:
        return cls(row.rule_id, row.version, row.jurisdiction, row.severity, dict(row.params))


def organisation_codes(organisation: Organisation | None) -> tuple[str, ...]:
    """The jurisdictions an organisation falls under, most specific first, "CN" last."""
    codes: list[str] = []
    if organisation is not None:
        for code in (
            organisation.district_code,
            organisation.city_code,
            organisation.province_code,
        ):
            if code and code not in codes:
                codes.append(code)
    return (*codes, NATIONAL)


def regulator_code(regulator: Organisation) -> str | None:
    """The jurisdiction a regulator governs: its district, else city, else province."""
    return regulator.region_code


async def ensure_defaults(session: AsyncSession) -> int:
    """Insert the national version 1 of every built-in rule that is missing."""
    present = set(
        (
            await session.scalars(
                select(SupervisionRuleVersion.rule_id).where(
                    SupervisionRuleVersion.jurisdiction == NATIONAL
                )
            )
        ).all()
    )
    added = 0
    for rule in BUILT_INS:
        if rule.rule_id in present:
            continue
        session.add(
            SupervisionRuleVersion(
                rule_id=rule.rule_id,
                version=1,
                jurisdiction=NATIONAL,
                title=rule.title,
                legal_basis=rule.legal_basis,
                severity=rule.severity,
                effective_from=SINCE,
                effective_to=None,
                params=dict(rule.params),
                reason="built-in default",
                created_at=clock.now(),
            )
        )
        added += 1
    await session.flush()
    forget_cached_rules()
    return added


# Versions per (rule, jurisdictions), kept for a short while: rule evaluation runs on every
# price and order event, and versions change rarely (an edit takes effect in this process at
# once, in other processes within CACHE_SECONDS; edits are effective from now or later).
CACHE_SECONDS = 30.0
# One namespace per engine (a weak key: an engine disposed takes its entries with it, and a
# new engine, e.g. the next test's database, never sees another's rows).
_per_engine: weakref.WeakKeyDictionary[Any, dict[str, dict[Any, Any]]] = weakref.WeakKeyDictionary()


def cache_space(session: AsyncSession, name: str) -> dict[Any, Any]:
    """This database's cache called `name`: entries are (time.monotonic() stored, value)."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    spaces = _per_engine.get(engine)
    if spaces is None:
        spaces = _per_engine[engine] = {}
    return spaces.setdefault(name, {})


def cached(space: dict[Any, Any], key: Any) -> tuple[bool, Any]:
    hit = space.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return True, hit[1]
    return False, None


def keep(space: dict[Any, Any], key: Any, value: Any) -> None:
    space[key] = (time.monotonic(), value)


@dataclass(frozen=True)
class RuleInForceRow:
    rule: RuleInForce
    effective_from: datetime
    effective_to: datetime | None


def forget_cached_rules() -> None:
    _per_engine.clear()


async def covering_regulator_cached(session: AsyncSession, organisation_id: int) -> int | None:
    """The regulator covering a merchant, kept like its jurisdictions (a new alert needs it;
    a regulator registered since is seen within CACHE_SECONDS)."""
    space = cache_space(session, "regulators")
    hit, found = cached(space, organisation_id)
    if hit:
        return cast(int | None, found)
    regulator = await covering_regulator(session, organisation_id)
    keep(space, organisation_id, regulator)
    return regulator


async def merchant_codes(session: AsyncSession, organisation_id: int) -> tuple[str, ...]:
    """A merchant's jurisdictions (its registered region), kept like the versions: every
    order event needs them and an organisation's region changes rarely."""
    space = cache_space(session, "codes")
    hit, codes = cached(space, organisation_id)
    if hit:
        return cast(tuple[str, ...], codes)
    row = (
        await session.execute(
            select(
                Organisation.district_code, Organisation.city_code, Organisation.province_code
            ).where(Organisation.id == organisation_id)
        )
    ).first()
    codes = (*dict.fromkeys(c for c in (row or ()) if c), NATIONAL)
    keep(space, organisation_id, codes)
    return cast(tuple[str, ...], codes)


async def _versions(
    session: AsyncSession, rule_id: str, codes: tuple[str, ...]
) -> list[RuleInForceRow]:
    space = cache_space(session, "versions")
    hit, value = cached(space, (rule_id, codes))
    if hit:
        return cast(list[RuleInForceRow], value)
    rows = (
        await session.execute(
            select(
                SupervisionRuleVersion.rule_id,
                SupervisionRuleVersion.version,
                SupervisionRuleVersion.jurisdiction,
                SupervisionRuleVersion.severity,
                SupervisionRuleVersion.params,
                SupervisionRuleVersion.effective_from,
                SupervisionRuleVersion.effective_to,
            )
            .where(
                SupervisionRuleVersion.rule_id == rule_id,
                SupervisionRuleVersion.jurisdiction.in_(list(codes)),
            )
            .order_by(SupervisionRuleVersion.version.desc())
        )
    ).all()
    found = [
        RuleInForceRow(
            RuleInForce(r.rule_id, r.version, r.jurisdiction, r.severity, dict(r.params)),
            r.effective_from,
            r.effective_to,
        )
        for r in rows
    ]
    keep(space, (rule_id, codes), found)
    return found


async def in_force(
    session: AsyncSession, rule_id: str, codes: Sequence[str], *, at: datetime | None = None
) -> RuleInForce:
    """The newest version in force at `at` of the most specific jurisdiction in `codes`."""
    moment = at or clock.now()
    rows = [
        row
        for row in await _versions(session, rule_id, tuple(codes))
        if row.effective_from <= moment and (row.effective_to is None or row.effective_to > moment)
    ]
    for code in codes:
        for row in rows:
            if row.rule.jurisdiction == code:
                return row.rule
    built_in = BY_ID[rule_id]  # defaults not installed (yet): the built-in values
    return RuleInForce(rule_id, 1, NATIONAL, built_in.severity, dict(built_in.params))


def _list_problem(param: Param, value: Any, known: Collection[str]) -> str | Message | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return N_("Must be a list of codes.")
    if not param.low <= len(value) <= param.high:
        return N_("Too many entries.")
    if param.choices == CATEGORIES and any(v not in known for v in value):
        return N_("Unknown category: choose codes from the category list.")
    return None


def validate_params(
    rule_id: str,
    given: dict[str, Any],
    current: dict[str, Any],
    *,
    known_categories: Collection[str] = (),
) -> dict[str, Any]:
    """The new parameters: `current` with `given` applied, each within its bounds; a 422
    naming every field that is unknown, of the wrong type or impossible. List parameters of
    category codes are checked against `known_categories`."""
    spec = BY_ID[rule_id].spec
    problems: dict[str, str | Message] = {}
    merged = dict(current)
    for name, value in given.items():
        param = spec.get(name)
        if param is None:
            problems[name] = N_("This rule has no such parameter.")
            continue
        if param.is_list:
            problem = _list_problem(param, value, known_categories)
            if problem is not None:
                problems[name] = problem
            else:
                merged[name] = sorted(set(value))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems[name] = N_("Must be a number.")
            continue
        if param.kind is int and not float(value).is_integer():
            problems[name] = N_("Must be a whole number.")
            continue
        if not math.isfinite(value) or not param.low <= value <= param.high:
            problems[name] = N_("Out of the possible range.")
            continue
        merged[name] = int(value) if param.kind is int else float(value)
    if (
        "baseline_days" in merged
        and "window_days" in merged
        and "baseline_days" not in problems
        and merged["baseline_days"] <= merged["window_days"]
    ):
        problems["baseline_days"] = N_("The baseline must be longer than the window.")
    if problems:
        raise ValidationFailed(N_("Some rule parameters are impossible."), fields=problems)
    return merged


async def _regulator(session: AsyncSession, actor: Actor, permission: Any) -> Organisation:
    organisation_id = acting_organisation(actor, permission, kinds=(REGULATOR,))
    regulator = await session.get(Organisation, organisation_id)
    assert regulator is not None
    return regulator


async def visible_rules(session: AsyncSession, actor: Actor) -> list[SupervisionRuleVersion]:
    """Every version that applies in the regulator's jurisdiction (its own and the wider
    ones), newest first per rule."""
    regulator = await _regulator(session, actor, SUPERVISION_READ)
    codes = list(organisation_codes(regulator))
    return list(
        (
            await session.scalars(
                select(SupervisionRuleVersion)
                .where(SupervisionRuleVersion.jurisdiction.in_(codes))
                .order_by(
                    SupervisionRuleVersion.rule_id,
                    SupervisionRuleVersion.jurisdiction,
                    SupervisionRuleVersion.version.desc(),
                )
            )
        ).all()
    )


async def params_in_force(session: AsyncSession, actor: Actor) -> dict[str, dict[str, Any]]:
    """Rule id -> the parameters in force now in the regulator's jurisdiction (what its rules
    page starts a new version from)."""
    regulator = await _regulator(session, actor, SUPERVISION_READ)
    codes = organisation_codes(regulator)
    return {
        rule.rule_id: (await in_force(session, rule.rule_id, codes)).params for rule in BUILT_INS
    }


async def edit(
    session: AsyncSession,
    actor: Actor,
    rule_id: str,
    *,
    params: dict[str, Any],
    reason: str,
    effective_from: datetime | None = None,
    severity: str | None = None,
) -> SupervisionRuleVersion:
    """A new version of `rule_id` for the supervisor's jurisdiction."""
    regulator = await _regulator(session, actor, SUPERVISION_RULES)
    if rule_id not in BY_ID:
        raise NotFound(N_("No such rule."))
    code = regulator_code(regulator)
    if code is None:
        raise ValidationFailed(
            N_("Your authority has no registered region."), fields={"jurisdiction": N_("Missing.")}
        )
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(N_("Say why."), fields={"reason": N_("Required.")})
    if severity is not None and severity not in ("low", "medium", "high"):
        raise ValidationFailed(N_("Unknown severity."), fields={"severity": N_("Unknown.")})
    now = clock.now()
    start = effective_from or now
    if start < now:
        raise ValidationFailed(
            N_("A rule cannot change in the past."), fields={"effective_from": N_("In the past.")}
        )
    current = await in_force(session, rule_id, organisation_codes(regulator), at=start)
    wants_categories = any(p.choices == CATEGORIES for p in BY_ID[rule_id].spec.values())
    known = set((await category_tree(session)).by_code) if wants_categories else set()
    merged = validate_params(rule_id, params, current.params, known_categories=known)
    latest = await session.scalar(
        select(func.max(SupervisionRuleVersion.version)).where(
            SupervisionRuleVersion.rule_id == rule_id,
            SupervisionRuleVersion.jurisdiction == code,
        )
    )
    built_in = BY_ID[rule_id]
    row = SupervisionRuleVersion(
        rule_id=rule_id,
        version=(latest or 0) + 1,
        jurisdiction=code,
        title=built_in.title,
        legal_basis=built_in.legal_basis,
        severity=severity or current.severity,
        effective_from=start,
        effective_to=None,
        params=merged,
        reason=reason,
        created_by_user_id=actor.user_id,
        created_by_organisation_id=regulator.id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    forget_cached_rules()
    audit.record(
        session,
        actor,
        "supervision.rule_edited",
        target_type="supervision_rule",
        target_id=f"{rule_id}@{code}#{row.version}",
        rule_id=rule_id,
        jurisdiction=code,
        version=row.version,
        params=merged,
        reason=reason,
        effective_from=start.isoformat(),
    )
    return row
