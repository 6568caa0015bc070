"""Dates of merchant reviews: today in Asia/Shanghai, and due dates some months ahead."""

from __future__ import annotations

import calendar
from datetime import date, datetime

from linli import clock


def local_today() -> date:
    return clock.now().astimezone(clock.LOCAL).date()


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
