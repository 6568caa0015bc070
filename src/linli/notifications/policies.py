"""Whose inbox messages an actor reaches: their own, nobody else's. Rows are scoped in the
query (or the UPDATE), never filtered after loading."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select

from linli.authz import Actor
from linli.notifications.models import Notification


def owned_by(actor: Actor) -> ColumnElement[bool]:
    """The condition "a message to the acting user". 401 anonymous (and the command line)."""
    return Notification.user_id == actor.require_user_id()


def own_notifications(actor: Actor) -> Select[Notification]:
    """The acting user's messages."""
    return select(Notification).where(owned_by(actor))
