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
]
