"""Who may see, pay, cancel and refund which payment intents. Rows are scoped in the query,
never filtered after loading."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, or_, select, true

from linli.authz import (
    PAYMENTS_READ,
    PAYMENTS_REFUND,
    PLATFORM_AUDIT_READ,
    PLATFORM_PAYMENTS_REFUND,
    Actor,
)
from linli.errors import Unauthenticated
from linli.i18n import N_
from linli.payments.models import PaymentIntent


def _readable(actor: Actor) -> ColumnElement[bool]:
    if actor.system or actor.has(PLATFORM_AUDIT_READ):
        return true()
    condition = PaymentIntent.payer_user_id == actor.require_user_id()
    if actor.organisation_id is not None and actor.has(PAYMENTS_READ):
        condition = condition | (PaymentIntent.payee_organisation_id == actor.organisation_id)
    return condition


def _refundable(actor: Actor) -> ColumnElement[bool]:
    if actor.system or actor.has(PLATFORM_PAYMENTS_REFUND):
        return true()
    if actor.organisation_id is not None and actor.has(PAYMENTS_REFUND):
        return PaymentIntent.payee_organisation_id == actor.organisation_id
    return false()


def _authenticated(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))


def readable_intents(actor: Actor) -> Select[PaymentIntent]:
    """Intents the actor may see: their own as payer; payments to the organisation they act
    for (PAYMENTS_READ there); every one for auditors and the system. 401 anonymous."""
    _authenticated(actor)
    return select(PaymentIntent).where(_readable(actor))


def refundable_intents(actor: Actor) -> Select[PaymentIntent, bool]:
    """(intent, whether the actor may refund it) for the intents the actor may see or refund.
    The payee's owner (PAYMENTS_REFUND, acting for it), platform admins and the system refund,
    the refund right possibly without the read (a token with `org:write` only). Any other
    intent is 404 to a refund, one seen but not refundable 403. 401 anonymous."""
    _authenticated(actor)
    refundable = _refundable(actor)
    return select(PaymentIntent, refundable.label("may_refund")).where(
        or_(_readable(actor), refundable)
    )


def own_intents(actor: Actor) -> Select[PaymentIntent]:
    """The intents the acting user pays (401 for anonymous requests and the command line)."""
    return select(PaymentIntent).where(PaymentIntent.payer_user_id == actor.require_user_id())


def cancellable_intents(actor: Actor) -> Select[PaymentIntent]:
    """The payer gives up their own unpaid intents; the system (another domain) any."""
    if actor.system:
        return select(PaymentIntent)
    if actor.user_id is None:
        return select(PaymentIntent).where(false())
    return own_intents(actor)
