"""Named queries of the EPCIS REST interface (`/epcis/queries`): a name and the query
parameters, owned by one organisation (the name is unique within it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


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
