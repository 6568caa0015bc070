"""The default rule set (RULES.md). A change of value is a new version, never an edit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

SINCE = datetime(2020, 1, 1, tzinfo=UTC)

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "rule_id": "market_access.negative_list",
        "version": 1,
        "title": "Negative list for market access, as applied to this platform",
        "legal_basis": (
            "Negative List for Market Access (NDRC/MOFCOM, 2022 edition); Food Safety Law "
            "art. 35 (food business licence); Regulations on the Supervision and Administration "
            "of Medical Devices art. 42 (class II/III business filing or licence); drugs are not "
            "sold through community group buying"
        ),
        "values": {
            # Category codes refused outright.
            "prohibited": ["drugs", "tobacco", "weapons"],
            # Category code -> the licence type that must be on file and valid.
            "licensed": {
                "fresh_food": "food_business",
                "groceries": "food_business",
                "health_food": "food_business",
                "medical_devices": "medical_device_business",
            },
        },
    },
    {
        "rule_id": "merchant.reverification",
        "version": 1,
        "title": "Re-verification of merchant qualifications",
        "legal_basis": "E-Commerce Law art. 27 (platform checks and updates operator information "
        "regularly); platform rule: at least every 6 months",
        "values": {"interval_months": 6, "licence_warning_days": 30},
    },
    {
        "rule_id": "export.three_same",
        "version": 1,
        "title": "Export-to-domestic 'three same' certification (同线同标同质)",
        "legal_basis": "General Office of the State Council opinions on supporting export "
        "products selling domestically (2020); 'three same' public service platform practice",
        "values": {"validity_months": 12},
    },
    {
        "rule_id": "consumer.no_reason_return",
        "version": 1,
        "title": "Seven-day no-reason return for goods bought at a distance",
        "legal_basis": "Consumer Rights Protection Law art. 25 (seven days from receipt; fresh "
        "and perishable goods excluded; others unsuitable by nature only with the consumer's "
        "confirmation at purchase); SAMR Interim Measures for No-Reason Return of Online "
        "Purchases (2017) art. 6-7",
        "values": {
            "days": 7,
            # The period starts the day after pickup (receipt): last day = pickup + days.
            "starts": "day_after_pickup",
            "excluded_storage_classes": ["chilled", "frozen"],
            "excluded_categories": ["fresh_food"],
        },
    },
    {
        "rule_id": "groupbuy.payment_window",
        "version": 1,
        "title": "Unpaid group-buying orders are cancelled and their stock released",
        "legal_basis": "Platform rule (reserved stock returns to other residents)",
        "values": {"minutes": 15},
    },
    {
        "rule_id": "groupbuy.uncollected",
        "version": 1,
        "title": "Group-buying orders not collected from the pickup point",
        "legal_basis": "Platform rule: goods left at a pickup point are refunded after the "
        "collection period (the resident did not receive them, Civil Code art. 604: risk "
        "passes on delivery); 'report' only lists them for the merchant to decide",
        # action: refund (the uncollected value goes back to the resident) | report
        "values": {"days": 3, "action": "refund"},
    },
    {
        "rule_id": "groupbuy.platform_fee",
        "version": 1,
        "title": "Platform service fee on group-buying goods collected",
        "legal_basis": "Platform service agreement with merchants (E-Commerce Law art. 35: "
        "fees must be published and not unreasonable)",
        "values": {"bp": 200},
    },
]
