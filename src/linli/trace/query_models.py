"""Named queries of the EPCIS REST interface (`/epcis/queries`): a name and the query
parameters, owned by one organisation (the name is unique within it); subscriptions to them,
delivered to a webhook on each capture."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, false, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime

NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class TraceNamedQuery(Base):
    """A saved SimpleEventQuery: `parameters` maps each parameter name to its values, as
    `query_params.parse` reads them (validated when the query is created)."""

    __tablename__ = "trace_named_queries"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    parameters: Mapped[dict[str, list[str]]] = mapped_column(JSONData)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceSubscription(Base):
    """A subscription to a named query: the events of each capture that the query matches are
    posted to `destination`, signed with `secret` (HMAC-SHA256). `failures` counts consecutive
    failed deliveries; at the configured limit the subscription is deactivated."""

    __tablename__ = "trace_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    query_id: Mapped[int] = mapped_column(
        ForeignKey("trace_named_queries.id", ondelete="CASCADE"), index=True
    )
    destination: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered: Mapped[int] = mapped_column(Integer, default=0)  # deliveries that succeeded
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivered on each capture (`stream`), or at the times of `schedule` (the REST binding's
    # schedule object, as given): the events recorded since the previous run.
    stream: Mapped[bool] = mapped_column(default=True, server_default=true())
    schedule: Mapped[dict[str, str] | None] = mapped_column(NULLABLE_JSON)
    report_if_empty: Mapped[bool] = mapped_column(default=False, server_default=false())
    initial_record_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last run recorded
