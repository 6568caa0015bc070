"""HTML pages for signing up, logging in, the account, organisations and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli import forms, i18n
from linli.accounts import policies, service
from linli.accounts.identity import (
    clear_session_cookie,
    login_policy,
    open_session,
    remember_login,
    signup_policy,
)
from linli.accounts.models import User
from linli.accounts.schemas import (
    LoginIn,
    MemberIn,
    PasswordChangeIn,
    ProfileIn,
    SignupIn,
    TokenIn,
)
from linli.apitypes import PathId
from linli.authz import (
    SCOPES,
    Actor,
    current_actor,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError
from linli.i18n import _
from linli.middleware import LANG_COOKIE, LANG_COOKIE_SECONDS
from linli.web import (
    ErrorAnswer,
    form_action,
    form_data,
    redirect,
    render,
    safe_next,
    validate_form,
    verify_csrf,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]


@router.get("/")
async def home(request: Request, actor: AnyActor) -> Response:
    return render(request, "accounts/home.html", actor=actor, public=True)


@router.post("/lang")
async def switch_language(request: Request, session: DbSession, actor: AnyActor) -> Response:
    """Remember the language in a cookie and, when logged in, on the account (a POST with the
    CSRF token, so no other site can change it)."""
    form = await form_data(request)
    locale = form.get("to", "")
    if locale not in i18n.LOCALES:
        locale = i18n.LOCALES[0]
    if actor.user is not None:
        await service.update_profile(session, actor, display_name=None, locale=locale)
    response = redirect(safe_next(form.get("next")))
    response.set_cookie(LANG_COOKIE, locale, max_age=LANG_COOKIE_SECONDS, samesite="lax")
    return response


@router.get("/signup")
async def signup_form(request: Request, actor: AnyActor) -> Response:
    return render(request, "accounts/signup.html", {"form": {}}, actor=actor)


@router.post("/signup")
async def signup_submit(request: Request, session: DbSession, actor: AnyActor) -> Response:
    form = await form_data(request)

    async def sign_up() -> tuple[User, str]:
        data = validate_form(SignupIn, form)
        user = await service.signup(
            session,
            actor,
            phone=data.phone,
            password=data.password,
            display_name=data.display_name,
            policy=signup_policy(request),
        )
        return user, await open_session(session, request, actor, user)

    def failed(error: DomainError) -> Response:
        form.pop("password", None)
        return render(
            request,
            "accounts/signup.html",
            {"form": form, "error": error},
            status_code=error.status_code,
            actor=actor,
        )

    outcome = await form_action(session, sign_up, on_error=failed)
    if isinstance(outcome, Response):
        return outcome
    user, token = outcome
    response = redirect(
        "/", text=_("Welcome, {name}! Your account is ready.").format(name=user.display_name)
    )
    remember_login(response, request, token, None)
    return response


@router.get("/login")
async def login_form(
    request: Request, actor: AnyActor, next: Annotated[str, Query(max_length=500)] = "/"
) -> Response:
    return render(
        request, "accounts/login.html", {"form": {}, "next": safe_next(next)}, actor=actor
    )


@router.post("/login")
async def login_submit(request: Request, session: DbSession, actor: AnyActor) -> Response:
    form = await form_data(request)
    next_url = safe_next(form.get("next"))

    async def log_in() -> tuple[User, str]:
        data = validate_form(
            LoginIn, {"phone": form.get("phone", ""), "password": form.get("password", "")}
        )
        user = await service.authenticate(
            session, actor, phone=data.phone, password=data.password, policy=login_policy(request)
        )
        return user, await open_session(session, request, actor, user)

    def failed(error: DomainError) -> Response:
        form.pop("password", None)
        response = render(
            request,
            "accounts/login.html",
            {"form": form, "error": error, "next": next_url},
            status_code=error.status_code,
            actor=actor,
        )
        response.headers.update(error.headers)
        return response

    outcome = await form_action(session, log_in, on_error=failed)
    if isinstance(outcome, Response):
        return outcome
    user, token = outcome
    success: Response = redirect(next_url)
    remember_login(success, request, token, user.locale)
    return success


@router.post("/logout")
async def logout(session: DbSession, actor: AnyActor) -> Response:
    await service.end_session(session, actor)
    response = redirect("/", text=_("You have logged out."))
    clear_session_cookie(response)
    return response


async def _account_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> Response:
    assert actor.user is not None
    context = {
        "memberships": await service.memberships_of(session, actor.user.id),
        "tokens": await service.list_tokens(session, actor),
        "scopes": SCOPES,
        "error": error,
        "new_token": new_token,
    }
    return render(request, "accounts/account.html", context, status_code=status_code, actor=actor)


def _account_failed(request: Request, session: AsyncSession, actor: Actor) -> ErrorAnswer:
    """The account page again, with the error of one of its forms."""
    return lambda error: _account_page(
        request, session, actor, error=error, status_code=error.status_code
    )


@router.get("/account")
async def account(request: Request, session: DbSession, actor: User_) -> Response:
    return await _account_page(request, session, actor)


@router.post("/account/profile")
async def account_profile(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)

    async def save() -> None:
        data = validate_form(ProfileIn, {"display_name": form.get("display_name")})
        await service.update_profile(session, actor, display_name=data.display_name, locale=None)

    failed = await form_action(session, save, on_error=_account_failed(request, session, actor))
    if isinstance(failed, Response):
        return failed
    return redirect("/account", text=_("Saved."))


@router.post("/account/password")
async def account_password(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)

    async def change() -> tuple[bool, int]:
        data = validate_form(PasswordChangeIn, form)
        revoked = await service.change_password(
            session,
            actor,
            current_password=data.current_password,
            new_password=data.new_password,
            revoke_tokens=data.revoke_tokens,
        )
        return data.revoke_tokens, revoked

    outcome = await form_action(session, change, on_error=_account_failed(request, session, actor))
    if isinstance(outcome, Response):
        return outcome
    revoke_tokens, revoked = outcome
    if revoke_tokens:
        return redirect(
            "/account",
            text=_("Your password has been changed. API tokens revoked: {count}.").format(
                count=revoked
            ),
        )
    return redirect(
        "/account",
        text=_("Your password has been changed. Your API tokens still work until you revoke them."),
    )


@router.post("/account/switch")
async def account_switch(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    organisation_id = forms.optional_id(form.get("organisation_id", ""))
    failed = await form_action(
        session,
        lambda: service.switch_organisation(session, actor, organisation_id),
        on_error=_account_failed(request, session, actor),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(safe_next(form.get("next")), text=_("Switched."))


@router.post("/account/tokens")
async def account_token_create(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()
    organisation = str(form.get("organisation_id") or "")
    data_in = {
        "name": form.get("name", ""),
        "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)],
        "organisation_id": organisation or None,
        "expires_in_days": form.get("expires_in_days") or None,
    }

    async def create() -> str:
        data = validate_form(TokenIn, data_in)
        token, _row = await service.create_token(
            session,
            actor,
            name=data.name,
            scopes=data.scopes,
            organisation_id=data.organisation_id,
            expires_in_days=data.expires_in_days,
        )
        return token

    token = await form_action(session, create, on_error=_account_failed(request, session, actor))
    if isinstance(token, Response):
        return token
    await session.flush()
    return await _account_page(request, session, actor, new_token=token, status_code=201)


@router.post("/account/tokens/{token_id}/revoke")
async def account_token_revoke(token_id: PathId, session: DbSession, actor: User_) -> Response:
    await service.revoke_token(session, actor, token_id)
    return redirect("/account", text=_("Token revoked."))


@router.get("/orgs/{organisation_id}")
async def organisation_page(
    organisation_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _organisation_page(request, session, actor, organisation_id)


async def _organisation_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    organisation_id: int,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    organisation = await service.access_organisation(session, actor, organisation_id)
    members = await service.list_members(session, actor, organisation_id)
    can_manage = policies.may_manage_members(actor, organisation_id)
    from linli.authz import ROLES_BY_KIND

    return render(
        request,
        "accounts/organisation.html",
        {
            "organisation": organisation,
            "members": members,
            "can_manage": can_manage,
            "roles": ROLES_BY_KIND[organisation.kind],
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.post("/orgs/{organisation_id}/members")
async def organisation_grant(
    organisation_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def grant() -> None:
        data = validate_form(MemberIn, form)
        await service.grant_role(
            session, actor, organisation_id=organisation_id, phone=data.phone, role=data.role
        )

    failed = await form_action(
        session,
        grant,
        on_error=lambda error: _organisation_page(
            request, session, actor, organisation_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/orgs/{organisation_id}", text=_("Role granted."))
