"""JSON routes for accounts and organisations under /api/v1 (thin: parse, call, shape)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts import service
from linli.accounts.identity import (
    clear_session_cookie,
    login_policy,
    open_session,
    remember_login,
    signup_policy,
)
from linli.accounts.models import User
from linli.accounts.schemas import (
    ActiveOrganisationIn,
    LoginIn,
    MemberIn,
    MemberOut,
    MeOut,
    OrganisationBrief,
    OrganisationIn,
    OrganisationOut,
    PasswordChangeIn,
    ProfileIn,
    SignupIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserOut,
)
from linli.apitypes import PathId
from linli.authz import (
    PLATFORM_ORGS_MANAGE,
    Actor,
    current_actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.phone import mask_phone

router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=ERROR_RESPONSES)

AnyActor = Annotated[Actor, Depends(current_actor)]
OrgReader = Annotated[Actor, Depends(require_scope("account", "org:read", "platform"))]
OrgAdmin = Annotated[Actor, Depends(require(PLATFORM_ORGS_MANAGE))]
MemberReader = Annotated[Actor, Depends(require_scope("org:read", "platform"))]
MemberManager = Annotated[Actor, Depends(require_scope("org:write", "platform"))]
AccountScope = Annotated[Actor, Depends(require_scope("account"))]


async def present_me(
    session: AsyncSession, user_id: int, active_organisation_id: int | None
) -> MeOut:
    """The user, the organisations they belong to and the one they act for."""
    user = await session.get(User, user_id)
    assert user is not None
    memberships = await service.memberships_of(session, user.id)
    briefs = [OrganisationBrief.from_row(m.organisation, roles=list(m.roles)) for m in memberships]
    active = next((b for b in briefs if b.id == active_organisation_id), None)
    return MeOut.from_row(user, active_organisation=active, organisations=briefs)


@router.post("/accounts/signup", status_code=201, summary="Create a resident account")
async def signup(body: SignupIn, request: Request, session: DbSession, actor: AnyActor) -> UserOut:
    user = await service.signup(
        session,
        actor,
        phone=body.phone,
        password=body.password,
        display_name=body.display_name,
        policy=signup_policy(request),
    )
    return UserOut.model_validate(user)


@router.post("/accounts/login", summary="Log in; sets the session cookie")
async def login(
    body: LoginIn, request: Request, response: Response, session: DbSession, actor: AnyActor
) -> MeOut:
    user = await service.authenticate(
        session, actor, phone=body.phone, password=body.password, policy=login_policy(request)
    )
    token = await open_session(session, request, actor, user)
    remember_login(response, request, token, user.locale)
    return await present_me(session, user.id, None)


@router.post("/accounts/logout", status_code=204, summary="End this session")
async def logout(response: Response, session: DbSession, actor: AnyActor) -> None:
    await service.end_session(session, actor)
    clear_session_cookie(response)


@router.get("/accounts/me", summary="Who I am and which organisations I can act for")
async def me(session: DbSession, actor: AccountScope) -> MeOut:
    return await present_me(session, actor.require_user_id(), actor.organisation_id)


@router.patch("/accounts/me", summary="Change my name or language")
async def update_me(body: ProfileIn, session: DbSession, actor: AccountScope) -> MeOut:
    await service.update_profile(session, actor, display_name=body.display_name, locale=body.locale)
    return await present_me(session, actor.require_user_id(), actor.organisation_id)


@router.post(
    "/accounts/me/password",
    status_code=204,
    summary="Change my password (ends my other sessions; API tokens only with revoke_tokens)",
)
async def change_password(body: PasswordChangeIn, session: DbSession, actor: AccountScope) -> None:
    await service.change_password(
        session,
        actor,
        current_password=body.current_password,
        new_password=body.new_password,
        revoke_tokens=body.revoke_tokens,
    )


@router.put("/accounts/me/active-organisation", summary="Act for one of my organisations")
async def switch_organisation(
    body: ActiveOrganisationIn, session: DbSession, actor: AccountScope
) -> MeOut:
    organisation = await service.switch_organisation(session, actor, body.organisation_id)
    return await present_me(
        session, actor.require_user_id(), organisation.id if organisation else None
    )


@router.get("/accounts/tokens", summary="My API tokens")
async def list_tokens(session: DbSession, actor: AccountScope) -> list[TokenOut]:
    return [TokenOut.model_validate(row) for row in await service.list_tokens(session, actor)]


@router.post("/accounts/tokens", status_code=201, summary="Create an API token (shown once)")
async def create_token(body: TokenIn, session: DbSession, actor: AccountScope) -> TokenCreatedOut:
    token, row = await service.create_token(
        session,
        actor,
        name=body.name,
        scopes=body.scopes,
        organisation_id=body.organisation_id,
        expires_in_days=body.expires_in_days,
    )
    return TokenCreatedOut(**TokenOut.model_validate(row).model_dump(), token=token)


@router.delete("/accounts/tokens/{token_id}", summary="Revoke one of my API tokens")
async def revoke_token(token_id: PathId, session: DbSession, actor: AccountScope) -> TokenOut:
    return TokenOut.model_validate(await service.revoke_token(session, actor, token_id))


@router.get("/organisations", tags=["organisations"], summary="All organisations (platform)")
async def list_organisations(session: DbSession, actor: OrgAdmin) -> list[OrganisationOut]:
    return [
        OrganisationOut.model_validate(o) for o in await service.list_organisations(session, actor)
    ]


@router.post(
    "/organisations",
    status_code=201,
    tags=["organisations"],
    summary="Create an organisation (platform admins)",
)
async def create_organisation(
    body: OrganisationIn, session: DbSession, actor: OrgAdmin
) -> OrganisationOut:
    organisation = await service.create_organisation(session, actor, **body.model_dump())
    return OrganisationOut.model_validate(organisation)


@router.get(
    "/organisations/{organisation_id}",
    tags=["organisations"],
    summary="One organisation I belong to",
)
async def get_organisation(
    organisation_id: PathId, session: DbSession, actor: OrgReader
) -> OrganisationOut:
    return OrganisationOut.model_validate(
        await service.access_organisation(session, actor, organisation_id)
    )


@router.get(
    "/organisations/{organisation_id}/members",
    tags=["organisations"],
    summary="Members of my active organisation",
)
async def list_members(
    organisation_id: PathId, session: DbSession, actor: MemberReader
) -> list[MemberOut]:
    members = await service.list_members(session, actor, organisation_id)
    return [
        MemberOut(
            user_id=user.id,
            display_name=user.display_name,
            phone=user.phone if user.id == actor.user_id else mask_phone(user.phone),
            roles=list(roles),
        )
        for user, roles in members
    ]


@router.post(
    "/organisations/{organisation_id}/members",
    status_code=201,
    tags=["organisations"],
    summary="Give a role to a registered user",
)
async def grant_role(
    organisation_id: PathId, body: MemberIn, session: DbSession, actor: MemberManager
) -> MemberOut:
    membership = await service.grant_role(
        session, actor, organisation_id=organisation_id, phone=body.phone, role=body.role
    )
    user = await session.get(User, membership.user_id)
    assert user is not None
    roles = await service.roles_in(session, user.id, organisation_id)
    return MemberOut(
        user_id=user.id,
        display_name=user.display_name,
        phone=mask_phone(user.phone),
        roles=sorted(roles),
    )


@router.delete(
    "/organisations/{organisation_id}/members/{user_id}/roles/{role}",
    status_code=204,
    tags=["organisations"],
    summary="Take a role away",
)
async def revoke_role(
    organisation_id: PathId, user_id: PathId, role: str, session: DbSession, actor: MemberManager
) -> None:
    await service.revoke_role(
        session, actor, organisation_id=organisation_id, user_id=user_id, role=role
    )
