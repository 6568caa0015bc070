"""What group buying's route modules (api, pages, fulfilment_api, leader and merchant pages)
share in presenting orders: the pickup code's QR image, the sorting sheet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import segno

from linli.groupbuy import lists, queries


def qr_svg(code: str) -> bytes:
    """The pickup code as an SVG QR code (what a leader's scanner reads is the six digits)."""
    return bytes(segno.make_qr(code, error="m").svg_inline(scale=8, border=2), "utf-8")


@dataclass(frozen=True)
class SortingGroup:
    order_id: int
    customer: str
    status: str
    rows: list[lists.SortingRow]


def group_rows(sheet: lists.SortingList) -> list[SortingGroup]:
    groups: dict[int, SortingGroup] = {}
    for row in sheet.rows:
        group = groups.get(row.order_id)
        if group is None:
            group = SortingGroup(row.order_id, row.customer, row.status, [])
            groups[row.order_id] = group
        group.rows.append(row)
    return list(groups.values())


def sorting_context(sheet: lists.SortingList, csv_url: str) -> dict[str, Any]:
    return {
        "sheet": sheet,
        "groups": group_rows(sheet),
        "csv_url": csv_url,
        "status_labels": queries.ORDER_STATUS_LABELS,
    }
