"""What the API and the pages show of a return (shared by both route modules)."""

from __future__ import annotations

from linli.protection.return_models import ReturnRequest
from linli.protection.return_schemas import ReturnOut
from linli.protection.returns import deadline_of


def present_return(row: ReturnRequest) -> ReturnOut:
    return ReturnOut.from_row(row, deadline=deadline_of(row))
