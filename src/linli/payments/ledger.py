"""The double-entry ledger: every fen that moves is booked as postings that sum to zero.

Amounts are signed fen: positive debits an account, negative credits it. An entry whose
postings do not sum to zero is refused with `UnbalancedEntry` before anything is written (a
CHECK constraint cannot span rows), so the sum over all postings, the trial balance, is always
zero. Entries are append-only; a mistake is corrected by a reversing entry.

Accounts are named by code, not rows (there is no account table to keep in step):

- `cash:{provider}`               money held for us at a payment provider (asset); for a
                                  deferred provider (`cash:pay_later`) what residents owe on
                                  their pay-later bills (a receivable)
- `clearing:orders`               paid money not yet settled to anyone nor refunded
- `resident:{user_id}`            what the platform owes a resident outside an order: money
                                  passes through it on the way in and out, so it is zero
                                  unless a refund is owed but not yet paid out
- `merchant:{org_id}:payable`     what the platform owes a merchant
- `leader:{user_id}:commission`   what the platform owes a group leader
- `platform:revenue`              the platform's own take
- `refunds`                       refunds the platform bears itself (e.g. goodwill)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    CTE,
    ColumnElement,
    FromClause,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.db import UTCDateTime
from linli.payments.models import LedgerEntry, LedgerPosting

CLEARING = "clearing:orders"
PLATFORM_REVENUE = "platform:revenue"
REFUNDS = "refunds"
_ACCOUNT = re.compile(
    r"^(cash:[a-z0-9_]{1,20}|clearing:orders|resident:\d{1,19}|merchant:\d{1,19}:payable"
    r"|leader:\d{1,19}:commission|platform:revenue|refunds|escrow:training:\d{1,19})$"
)
MAX_POSTING_FEN = 10**15  # far beyond any real amount; keeps sums inside BIGINT
BP = 10_000  # basis points in a whole


def share(amount_fen: int, rate_bp: int) -> int:
    """A rate's share of an amount, rounded down (the merchant keeps the remainder)."""
    return amount_fen * rate_bp // BP


class UnbalancedEntry(ValueError):
    """The postings of an entry do not sum to zero (or are otherwise not bookable)."""


def cash(provider: str) -> str:
    return f"cash:{provider}"


def resident(user_id: int) -> str:
    return f"resident:{user_id}"


def merchant_payable(organisation_id: int) -> str:
    return f"merchant:{organisation_id}:payable"


def training_escrow(organisation_id: int) -> str:
    """The supervised account holding a training school's prepaid course fees until each
    class is delivered (services.courses)."""
    return f"escrow:training:{organisation_id}"


def leader_commission(user_id: int) -> str:
    return f"leader:{user_id}:commission"


def is_account(code: str) -> bool:
    return bool(_ACCOUNT.match(code))


def check_postings(postings: Sequence[tuple[str, int]]) -> None:
    """Raise `UnbalancedEntry` unless the postings can be booked as one entry."""
    if len(postings) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    for code, amount in postings:
        if not is_account(code):
            raise UnbalancedEntry(f"unknown account {code!r}")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise UnbalancedEntry(f"amount for {code} is not whole fen: {amount!r}")
        if amount == 0 or abs(amount) > MAX_POSTING_FEN:
            raise UnbalancedEntry(f"amount for {code} is zero or out of range: {amount}")
    total = sum(amount for _code, amount in postings)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total} fen, not 0")


async def post(
    session: AsyncSession, kind: str, reference: str, postings: Iterable[tuple[str, int]]
) -> int:
    """Book one balanced entry (two statements); returns its id. (kind, reference) is unique."""
    lines = list(postings)
    check_postings(lines)
    entry_id = await session.scalar(
        insert(LedgerEntry)
        .values(kind=kind, reference=reference, created_at=clock.now())
        .returning(LedgerEntry.id)
    )
    assert entry_id is not None
    await session.execute(
        insert(LedgerPosting),
        [{"entry_id": entry_id, "account": code, "amount_fen": amount} for code, amount in lines],
    )
    return int(entry_id)


def post_from(
    kind: str,
    source: FromClause,
    reference: ColumnElement[str],
    postings: Sequence[tuple[ColumnElement[str], ColumnElement[int]]],
    *,
    name: str,
) -> tuple[CTE, CTE]:
    """`post` as data-modifying CTEs of one statement (PostgreSQL): one entry per row of
    `source` (a CTE of that statement; `reference` tells its rows apart, as an intent's public
    id does) and its postings, (account, amount) expressions over `source`'s columns that the
    caller builds balanced (`payment_postings_from`). Returns the entry's CTE and the
    postings' (RETURNING their ids)."""
    if len(postings) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    entry = (
        insert(LedgerEntry)
        .from_select(
            ["kind", "reference", "created_at"],
            select(
                literal(kind),
                reference,
                bindparam(f"{name}_now", callable_=lambda: clock.now(), type_=UTCDateTime),
            ).select_from(source),
        )
        .returning(LedgerEntry.id, LedgerEntry.reference)
        .cte(f"{name}_entry")
    )
    lines = union_all(
        *(
            select(entry.c.id, account, amount)
            .select_from(entry)
            .join(source, entry.c.reference == reference)
            for account, amount in postings
        )
    )
    booked = (
        insert(LedgerPosting)
        .from_select(["entry_id", "account", "amount_fen"], lines)
        .returning(LedgerPosting.id)
        .cte(f"{name}_postings")
    )
    return entry, booked


async def balance(session: AsyncSession, code: str) -> int:
    """The account's balance in fen: debits minus credits."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0)).where(
            LedgerPosting.account == code
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class TrialBalance:
    accounts: dict[str, int]  # every account with postings -> its balance
    total: int  # the sum over all postings: always 0


async def trial_balance(session: AsyncSession) -> TrialBalance:
    rows = await session.execute(
        select(LedgerPosting.account, func.sum(LedgerPosting.amount_fen))
        .group_by(LedgerPosting.account)
        .order_by(LedgerPosting.account)
    )
    accounts = {code: int(total) for code, total in rows}
    return TrialBalance(accounts=accounts, total=sum(accounts.values()))


async def turnover(session: AsyncSession, code: str) -> tuple[int, int]:
    """(total debited, total credited as a positive number) on an account."""
    debit = func.coalesce(
        func.sum(LedgerPosting.amount_fen).filter(LedgerPosting.amount_fen > 0), 0
    )
    credit = func.coalesce(
        func.sum(LedgerPosting.amount_fen).filter(LedgerPosting.amount_fen < 0), 0
    )
    row = (await session.execute(select(debit, credit).where(LedgerPosting.account == code))).one()
    return int(row[0]), -int(row[1])


# --- the bookings of the payments domain ----------------------------------------------------


def payment_postings(provider: str, payer_user_id: int, amount_fen: int) -> list[tuple[str, int]]:
    """Money arrived at the provider from the resident and is held for their order."""
    return [
        (cash(provider), amount_fen),
        (resident(payer_user_id), -amount_fen),
        (resident(payer_user_id), amount_fen),
        (CLEARING, -amount_fen),
    ]


def payment_postings_from(
    provider: str, payer_user_id: ColumnElement[int], amount_fen: ColumnElement[int]
) -> list[tuple[ColumnElement[str], ColumnElement[int]]]:
    """`payment_postings` as expressions over a statement's columns (`post_from`)."""
    payer = literal("resident:") + cast(payer_user_id, String)
    return [
        (literal(cash(provider)), amount_fen),
        (payer, -amount_fen),
        (payer, amount_fen),
        (literal(CLEARING), -amount_fen),
    ]


def refund_postings(provider: str, payer_user_id: int, amount_fen: int) -> list[tuple[str, int]]:
    """Released from clearing back to the resident, and paid out through the provider."""
    return [
        (CLEARING, amount_fen),
        (resident(payer_user_id), -amount_fen),
        (resident(payer_user_id), amount_fen),
        (cash(provider), -amount_fen),
    ]


def deferred_repayment_postings(provider: str, amount_fen: int) -> list[tuple[str, int]]:
    """A bill of a deferred provider was paid (its payment booked into clearing as any
    payment): the money leaves clearing and clears what was owed (`cash:{provider}`)."""
    return [(CLEARING, amount_fen), (cash(provider), -amount_fen)]


def settlement_postings(
    *,
    amount_fen: int,
    merchant_organisation_id: int,
    merchant_fen: int,
    leader_user_id: int | None = None,
    leader_fen: int = 0,
    platform_fen: int = 0,
) -> list[tuple[str, int]]:
    """Split `amount_fen` of clearing into what is owed to the merchant, the group leader and
    the platform. The three shares must add up to the amount (checked by `check_postings`)."""
    if amount_fen <= 0 or min(merchant_fen, leader_fen, platform_fen) < 0:
        raise UnbalancedEntry("a settlement moves a positive amount in non-negative shares")
    lines: list[tuple[str, int]] = [(CLEARING, amount_fen)]
    if merchant_fen:
        lines.append((merchant_payable(merchant_organisation_id), -merchant_fen))
    if leader_fen:
        if leader_user_id is None:
            raise UnbalancedEntry("a leader commission needs the leader's user id")
        lines.append((leader_commission(leader_user_id), -leader_fen))
    if platform_fen:
        lines.append((PLATFORM_REVENUE, -platform_fen))
    return lines


async def settle(
    session: AsyncSession,
    reference: str,
    *,
    amount_fen: int,
    merchant_organisation_id: int,
    merchant_fen: int,
    leader_user_id: int | None = None,
    leader_fen: int = 0,
    platform_fen: int = 0,
) -> int:
    """Book the settlement of one order (called by the order domain once it is fulfilled)."""
    return await post(
        session,
        "settlement",
        reference,
        settlement_postings(
            amount_fen=amount_fen,
            merchant_organisation_id=merchant_organisation_id,
            merchant_fen=merchant_fen,
            leader_user_id=leader_user_id,
            leader_fen=leader_fen,
            platform_fen=platform_fen,
        ),
    )


async def reverse_settlement(
    session: AsyncSession,
    reference: str,
    *,
    amount_fen: int,
    merchant_organisation_id: int,
    merchant_fen: int,
    leader_user_id: int | None = None,
    leader_fen: int = 0,
    platform_fen: int = 0,
) -> int:
    """Undo (part of) a settlement: the shares go back from the merchant, the leader and the
    platform into clearing, ready to be refunded. The settlement's postings negated, kind
    `settlement_reversal`; (kind, reference) is unique, so a reference is reversed once."""
    lines = settlement_postings(
        amount_fen=amount_fen,
        merchant_organisation_id=merchant_organisation_id,
        merchant_fen=merchant_fen,
        leader_user_id=leader_user_id,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    return await post(
        session, "settlement_reversal", reference, [(code, -amount) for code, amount in lines]
    )
