"""The account's own section of the export (accounts are the shared kernel: privacy reads them
directly). Secrets never leave: no password hash, no session or token digest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.accounts.models import ApiToken, Membership, Organisation, User, UserSession
from linli.phone import national_number


async def account_section(session: AsyncSession, user_id: int) -> dict[str, Any]:
    user = await session.get(User, user_id)
    if user is None:
        return {}
    memberships = await session.execute(
        select(Organisation.id, Organisation.name, Organisation.kind, Membership)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id)
        .order_by(Organisation.id, Membership.role)
    )
    sessions = await session.scalars(
        select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.id)
    )
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    )
    return {
        "user": {
            "id": user.id,
            "phone": national_number(user.phone),
            "display_name": user.display_name,
            "locale": user.locale,
            "created_at": user.created_at,
        },
        "memberships": [
            {
                "organisation_id": organisation_id,
                "organisation": name,
                "kind": kind,
                "role": membership.role,
                "granted_at": membership.granted_at,
            }
            for organisation_id, name, kind, membership in memberships
        ],
        "sessions": [
            {
                "id": row.id,
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "revoked_at": row.revoked_at,
                "ip": row.ip,
                "user_agent": row.user_agent,
            }
            for row in sessions
        ],
        "api_tokens": [
            {
                "id": row.id,
                "name": row.name,
                "hint": row.hint,
                "organisation_id": row.organisation_id,
                "scopes": list(row.scopes),
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "revoked_at": row.revoked_at,
                "last_used_at": row.last_used_at,
            }
            for row in tokens
        ],
    }


personal_data.provide_export_section("account", account_section)
