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
        # Version 2 adds the return's own clocks and names the law's exclusions (a change of
        # value is a new version; campaigns published under version 1 keep it).
        "rule_id": "consumer.no_reason_return",
        "version": 2,
        "title": "Seven-day no-reason return for goods bought at a distance",
        "legal_basis": "Consumer Rights Protection Law art. 25 (seven days from receipt; goods "
        "made to order, fresh, live and perishable goods, unsealed audio-visual and software "
        "goods, delivered newspapers and periodicals excluded; others unsuitable by nature only "
        "with the consumer's confirmation at purchase; the seller refunds within seven days of "
        "receiving the goods back); art. 24 (defective goods: return within seven days); SAMR "
        "Interim Measures for No-Reason Return of Online Purchases (2017) art. 6-7",
        "values": {
            "days": 7,
            # The period starts the day after pickup (receipt): last day = pickup + days.
            "starts": "day_after_pickup",
            # The law's excluded kinds of goods, and how they show in this catalogue.
            "excluded_by_law": [
                "made_to_order",
                "fresh_live_perishable",
                "unsealed_audio_visual_software",
                "newspapers_periodicals",
            ],
            "excluded_storage_classes": ["chilled", "frozen"],  # fresh_live_perishable
            "excluded_categories": ["fresh_food"],  # fresh_live_perishable
            "answer_hours": 48,  # the merchant answers, else the return is approved
            "refund_days": 7,  # refund within 7 days of the goods being received back
            "defect_days": 7,  # art. 24: defective goods may be returned within 7 days
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
    {
        "rule_id": "coldchain.storage_classes",
        "version": 1,
        "title": "Cold-chain temperature ranges per storage class, and what counts as an excursion",
        "legal_basis": "GB/T 24616-2019 (cold-chain logistics of frozen and chilled food: "
        "frozen at -18 C or below, chilled above 0 C and below 8 C, readings at least every 5 "
        "minutes); GB 31605-2020 (food cold-chain logistics hygiene); platform rule: an "
        "excursion is a run of readings outside the range by more than the tolerance lasting "
        "longer than the minimum duration, and puts the batch on hold until a decision",
        # min_c / max_c: the range (null: unbounded); tolerance_c: how far outside a reading
        # may be before it counts; min_duration_minutes: how long a run of such readings must
        # last (first to last reading) to be an excursion.
        "values": {
            "reading_interval_minutes": 5,
            "classes": {
                "frozen": {
                    "min_c": None,
                    "max_c": -18,
                    "tolerance_c": 3,
                    "min_duration_minutes": 15,
                },
                "chilled": {
                    "min_c": 0,
                    "max_c": 8,
                    "tolerance_c": 0,
                    "min_duration_minutes": 15,
                },
            },
        },
    },
    {
        "rule_id": "recall.levels",
        "version": 1,
        "title": "Food recall levels: when a recall must start and be completed",
        "legal_basis": "Food Recall Management Measures (CFDA Order No. 12, 2015) art. 13: "
        "level 1 starts within 24 hours and completes within 10 working days, level 2 within "
        "48 hours / 20 working days, level 3 within 72 hours / 30 working days",
        # Working days come from rule calendar.working_days (linli.rules.workdays): public
        # holidays and the adjusted working weekends (调休) are counted as the State Council
        # arranged them; the day the recall opens is not counted (Civil Code art. 201).
        "values": {
            "levels": {
                "1": {"start_within_hours": 24, "complete_within_working_days": 10},
                "2": {"start_within_hours": 48, "complete_within_working_days": 20},
                "3": {"start_within_hours": 72, "complete_within_working_days": 30},
            }
        },
    },
    {
        "rule_id": "consumer.complaint",
        "version": 1,
        "title": "Consumer complaints: acceptance, mediation and telling the parties",
        "legal_basis": "SAMR Order No. 20 (Interim Measures for Handling Complaints and Reports "
        "of Market Regulation, 2019) art. 19 (decide acceptance within 7 working days of "
        "receipt, and tell the complainant), art. 27 (mediation ends without agreement after "
        "45 working days from acceptance), art. 21-22 (the parties told within 7 working days)",
        # Working days from rule calendar.working_days (linli.rules.workdays); the day the
        # complaint is filed (or accepted) is not counted (Civil Code art. 201).
        "values": {
            "accept_within_working_days": 7,
            "mediation_within_working_days": 45,
            "inform_within_working_days": 7,
        },
    },
    {
        "rule_id": "calendar.working_days",
        "version": 1,
        "title": "Working days: public holidays and adjusted working weekends (调休)",
        "legal_basis": "Regulations on National Annual Festivals and Memorial Days (全国年节及纪念"
        "日放假办法, 2024 revision); the State Council General Office's yearly notice on holiday "
        "arrangements (carried by the chinese-calendar package for the years it covers); "
        "Civil Code arts. 201, 203 (counting periods)",
        # overrides: ISO date -> {"kind": "holiday" | "working_day", "reason": text}, entered
        # by operators at /ops/rules/calendar; every edit is a new version. Version 1 is empty:
        # later versions belong to the operators, never to this file.
        "values": {"overrides": {}},
    },
    {
        "rule_id": "supervision.random_inspection",
        "version": 1,
        "title": "Double random, one public: sampling shares by credit-risk class",
        "legal_basis": "State Council General Office opinion on double random, one public "
        "supervision (国办发〔2015〕58号); SAMR guidance on credit-risk classified supervision "
        "(国市监信发〔2022〕6号): classes A (low) to D (high) drawn at different rates",
        # The share of a class's merchants a plan of the full size inspects (RULES.md "Credit":
        # A at most 5 %, B 5-20 %, C 21-60 %, D 61-100 %; the defaults take the top of each
        # range). A plan of n targets gives each class n * share * size / sum(share * size)
        # targets, uniformly drawn inside the class (docs/supervision-inspections.md).
        "values": {
            "sampling_shares": {"A": 0.05, "B": 0.20, "C": 0.60, "D": 1.00},
            "inspectors_per_target": 2,
        },
    },
]
