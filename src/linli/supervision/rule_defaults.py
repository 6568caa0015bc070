"""The built-in supervision rules: national defaults and the parameters each accepts.

Thresholds that law leaves to local rules (price gouging percentages) are data: a regulator's
supervisor sets its jurisdiction's own version (`rule_service.edit`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linli.i18n import N_

COMPLAINT_RATE = "supervision.complaint_rate"
REFUND_SPIKE = "supervision.refund_spike"
RETURN_REFUND_OVERDUE = "supervision.return_refund_overdue"
INSPECTION_FAILED = "supervision.inspection_failed"
COLD_CHAIN = "supervision.cold_chain_excursion"
RECALL_OVERDUE = "supervision.recall_overdue"
PRICE_GOUGING = "supervision.price_gouging"
PRICE_DISCRIMINATION = "supervision.price_discrimination"
LICENCE_LAPSED = "supervision.licence_lapsed"
HISTORY_PRICING = "supervision.history_pricing"
NEGATIVE_LIST_GOODS = "supervision.negative_list_goods"
PRESCRIPTION_UNREVIEWED = "supervision.prescription_unreviewed"
PREPAID_OVER_LIMIT = "supervision.prepaid_over_limit"

CATEGORIES = "categories"  # a list parameter whose entries are category codes


@dataclass(frozen=True)
class Param:
    kind: type  # int, float, or list (then low/high bound its length)
    low: float
    high: float
    choices: str | None = None  # a list's entries: CATEGORIES (known category codes)

    @property
    def is_list(self) -> bool:
        return self.kind is list


@dataclass(frozen=True)
class BuiltIn:
    rule_id: str
    title: str
    legal_basis: str
    severity: str
    params: dict[str, Any]
    spec: dict[str, Param]


def _count_rule(rule_id: str, title: str, basis: str, severity: str) -> BuiltIn:
    """Fires when at least `min_count` such facts fall within `window_days`."""
    return BuiltIn(
        rule_id,
        title,
        basis,
        severity,
        {"window_days": 30, "min_count": 1},
        {"window_days": Param(int, 1, 366), "min_count": Param(int, 1, 1000)},
    )


BUILT_INS: tuple[BuiltIn, ...] = (
    BuiltIn(
        COMPLAINT_RATE,
        N_("Complaint rate over a window"),
        "Consumer Rights Protection Law art. 32; E-Commerce Law art. 83 (supervision of "
        "operators on the platform)",
        "medium",
        {"window_days": 30, "min_orders": 20, "max_rate_pct": 5.0},
        {
            "window_days": Param(int, 1, 366),
            "min_orders": Param(int, 1, 100000),
            "max_rate_pct": Param(float, 0.01, 100),
        },
    ),
    BuiltIn(
        REFUND_SPIKE,
        N_("Return rate spike against the merchant's own baseline"),
        "Consumer Rights Protection Law art. 24-25; SAMR Interim Measures for No-Reason Return "
        "of Online Purchases (2017)",
        "medium",
        {"window_days": 7, "baseline_days": 56, "min_orders": 10, "factor": 2.0, "floor_pct": 10.0},
        {
            "window_days": Param(int, 1, 90),
            "baseline_days": Param(int, 7, 366),
            "min_orders": Param(int, 1, 100000),
            "factor": Param(float, 1.01, 100),
            "floor_pct": Param(float, 0.01, 100),  # the rate that fires without a baseline
        },
    ),
    _count_rule(
        RETURN_REFUND_OVERDUE,
        N_("Refunds of returned goods overdue"),
        "Consumer Rights Protection Law art. 25 (refund within seven days of receipt)",
        "medium",
    ),
    _count_rule(
        INSPECTION_FAILED,
        N_("Failed food inspections"),
        "Food Safety Law art. 87, 124",
        "high",
    ),
    _count_rule(
        COLD_CHAIN,
        N_("Cold-chain temperature excursions"),
        "Food Safety Law art. 33, 54; GB 31605-2020 (cold chain)",
        "medium",
    ),
    _count_rule(
        RECALL_OVERDUE,
        N_("Recalls behind their deadline"),
        "Food Safety Law art. 63; Measures for Food Recall (2015) art. 13",
        "high",
    ),
    BuiltIn(
        PRICE_GOUGING,
        N_("Price gouging during an emergency declaration"),
        "Price Law art. 14; SAMR guidance on price violations in epidemic prevention "
        "(2020-02-01) and on price conduct in emergencies (2022-06-10); thresholds set locally",
        "high",
        # base: the pre-emergency reference is the SKU's sale price in force at the
        # declaration's reference moment (price history).
        {"threshold_pct": 35.0, "no_reference_pct": 15.0, "base": "sale_price"},
        {
            "threshold_pct": Param(float, 0.1, 1000),
            "no_reference_pct": Param(float, 0.1, 1000),
        },
    ),
    BuiltIn(
        PRICE_DISCRIMINATION,
        N_("Big-data price discrimination: one SKU, different prices to different residents"),
        "E-Commerce Law art. 18; Personal Information Protection Law art. 24; Provisions on "
        "Algorithmic Recommendation (2021) art. 21",
        "high",
        {"window_minutes": 60, "min_difference_pct": 1.0},
        {"window_minutes": Param(int, 1, 10080), "min_difference_pct": Param(float, 0.01, 100)},
    ),
    BuiltIn(
        HISTORY_PRICING,
        N_("Big-data price discrimination: a price that depends on the buyer's history"),
        "E-Commerce Law art. 18; Personal Information Protection Law art. 24 (no unreasonable "
        "differential treatment in trading prices by automated decision-making); Provisions on "
        "Algorithmic Recommendation (2021) art. 21; Provisions on Online Anti-Unfair "
        "Competition (2024) art. 21",
        "high",
        # Within the window, the same SKU: the mean unit price paid by returning buyers (at
        # least `returning_min_orders` paid orders from the merchant before) over the mean
        # paid by new buyers, with at least `min_buyers` residents on each side.
        {
            "window_minutes": 60,
            "returning_min_orders": 2,
            "min_buyers": 2,
            "min_difference_pct": 1.0,
        },
        {
            "window_minutes": Param(int, 1, 10080),
            "returning_min_orders": Param(int, 1, 1000),
            "min_buyers": Param(int, 1, 1000),
            "min_difference_pct": Param(float, 0.01, 100),
        },
    ),
    BuiltIn(
        NEGATIVE_LIST_GOODS,
        N_("Negative-list goods on sale"),
        "Opinions on implementing the negative list for market access (State Council 2018 "
        "No. 55); Negative List for Market Access (2022 edition); E-Commerce Law art. 13, 29 "
        "(goods whose sale is prohibited; the platform reports them)",
        "high",
        # The market-access negative list in force for the merchant's region (a category on
        # it, or below one), plus the categories the jurisdiction adds (local prohibitions).
        {"use_market_access_list": 1, "extra_categories": []},
        {
            "use_market_access_list": Param(int, 0, 1),
            "extra_categories": Param(list, 0, 50, choices=CATEGORIES),
        },
    ),
    BuiltIn(
        PRESCRIPTION_UNREVIEWED,
        N_("Online prescriptions not reviewed by a pharmacist"),
        "Internet Diagnosis and Treatment Supervision Rules (Trial) (2022) art. 18-20 "
        "(prescriptions reviewed by a pharmacist before they take effect and are dispensed); "
        "Prescription Management Measures (2007) art. 35-37 (pharmacists review prescriptions)",
        "medium",
        # The daily sweep counts, per clinic, each prescription still pending review
        # `max_hours` after the doctor signed it (once); the rule fires when `min_count` fall
        # within `window_days`. An approved prescription without a pharmacist's review on
        # record (dispensable unreviewed) fires at once, one severity step higher.
        {"max_hours": 24, "window_days": 30, "min_count": 1},
        {
            "max_hours": Param(int, 1, 720),
            "window_days": Param(int, 1, 366),
            "min_count": Param(int, 1, 1000),
        },
    ),
    BuiltIn(
        PREPAID_OVER_LIMIT,
        N_("Prepaid training fees collected beyond the limits"),
        "Opinions on Further Reducing the Burden of Homework and Off-campus Training for "
        "Students in Compulsory Education (2021); MOE, SAMR et al. notice on strengthening the "
        "supervision of prepaid fees of off-campus training (2021, 教监管函〔2021〕2号): no "
        "collection covering more than 3 months or 60 class hours; the amount limits of "
        "non-subject training (limits: rule services.training_prepaid of the school's region)",
        "high",
        # Each paid collection beyond the limits of services.training_prepaid in force for
        # the school's region when it was paid is one fact; fires at `min_count` within
        # `window_days`.
        {"window_days": 30, "min_count": 1},
        {"window_days": Param(int, 1, 366), "min_count": Param(int, 1, 1000)},
    ),
    BuiltIn(
        LICENCE_LAPSED,
        N_("Selling while a licence has lapsed"),
        "Food Safety Law art. 35, 122; E-Commerce Law art. 12, 27",
        "high",
        {"grace_days": 0},
        {"grace_days": Param(int, 0, 90)},
    ),
)

BY_ID: dict[str, BuiltIn] = {rule.rule_id: rule for rule in BUILT_INS}
