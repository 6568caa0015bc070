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
        "rule_id": "consumer.quality_claim",
        "version": 1,
        "title": "Quality claims on collected goods: refund without return",
        "legal_basis": "Platform rule (fresh produce: photo evidence within 48 hours of pickup, "
        "refund without return); Consumer Rights Protection Law art. 24 (defective goods: the "
        "seller answers for them, not limited by the art. 25 seven-day no-reason window)",
        "values": {
            # Fresh produce, as this catalogue shows it (the campaign item's stored kind).
            "fresh_storage_classes": ["chilled", "frozen"],
            "fresh_categories": ["fresh_food"],
            "fresh_hours": 48,  # a fresh-produce quality claim: within 48 h of pickup
            "defect_days": 15,  # defective goods (art. 24): within 15 days of pickup
            "decision_hours": 24,  # the merchant decides, else the claim goes to the platform
            "escalate_days": 7,  # a rejected claim may be taken to the platform within 7 days
            # A resident whose claim rate is far above their community's is flagged for an
            # operator to look at (never punished automatically).
            "abuse_lookback_days": 90,
            "abuse_min_claims": 3,
            "abuse_rate_multiple": 3,
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
        "rule_id": "privacy.retention",
        "version": 1,
        "title": "Personal data of a closed account: what is kept, and for how long",
        "legal_basis": "E-Commerce Law art. 31 (goods, services and transaction records kept at "
        "least three years from the completion of the transaction); Personal Information "
        "Protection Law art. 19 (kept no longer than necessary), art. 45 (copies of one's "
        "data), art. 47 (deletion when the account is closed, unless a law sets a retention "
        "period: then only stored, not processed further)",
        # Transaction records (orders with their lines, payments, refunds, returns, complaints
        # and the ledger) of a closed account are kept this many years after the last of them
        # was completed; then the due job privacy.purge_closed_account erases what identified
        # the resident in them (linli.privacy.service.purge).
        "values": {"transaction_records_years": 3},
    },
    {
        "rule_id": "credit.scoring",
        "version": 1,
        "title": "Credit scores and public grades of merchants, group leaders and residents",
        "legal_basis": "Opinions of the General Office of the State Council on building a new "
        "credit-based supervision mechanism (国办发〔2019〕35号); SAMR Measures for the "
        "Administration of Enterprise Information Publicity and credit classification practice "
        "(企业信用风险分类管理, 2022); E-Commerce Law art. 39 (platform credit evaluation rules, "
        "published); platform rule: the weights, decay and grades below",
        # Every record adds `weights[kind][subject]` points (kinds of credit.ledger.RecordKind;
        # subjects merchant | leader | resident); a record's weight halves at each boundary of
        # a `half_life_days` period counted from `epoch` after the one it occurred in, and stops
        # counting after `horizon_periods` periods. score = base + the decayed sum, rounded
        # half up once, kept within 0..1000. Grades: the first whose minimum the score reaches.
        "values": {
            "base": 600,  # a new subject starts at the bottom of grade A
            "min": 0,
            "max": 1000,
            "epoch": "2020-01-01",
            "half_life_days": 180,
            "horizon_periods": 6,
            "grades": [["AAA", 850], ["AA", 750], ["A", 600], ["B", 450], ["C", 0]],
            "weights": {
                "order_delivered": {"merchant": 2},
                "pickup_handed_over": {"leader": 2},
                "order_collected": {"resident": 1},
                "order_uncollected": {"resident": -30},
                "temperature_excursion": {"merchant": -40},
                "inspection_failed": {"merchant": -120},
                "batch_recalled": {"merchant": -60},
                "return_refund_overdue": {"merchant": -50},
                "return_refunded": {"merchant": -3},
                "complaint_upheld": {"merchant": -60, "leader": -60},
                "complaint_mediated": {"merchant": -15, "leader": -15},
            },
            # Effects: a group-leader application needs at least this public grade.
            "leader_min_grade": "B",
        },
    },
    {
        "rule_id": "credit.risk_class",
        "version": 1,
        "title": "Enterprise credit-risk classes A/B/C/D (regulators only, never published)",
        "legal_basis": "SAMR Opinions on promoting enterprise credit-risk classification "
        "management (国市监信发〔2022〕6号): classes A (low), B (general), C (relatively high), "
        "D (high) drive how often an enterprise is drawn for 'double random' inspections and "
        "are not published; default sampling shares by class",
        # The class from the credit score (first whose minimum the score reaches), made one
        # class worse when the enterprise sells a high-risk category; supervision history
        # joins when supervision exists.
        "values": {
            "by_score": [["A", 750], ["B", 600], ["C", 450], ["D", 0]],
            "high_risk_categories": ["fresh_food", "health_food", "medical_devices"],
            "high_risk_steps": 1,
            "sampling_percent": {"A": [0, 5], "B": [5, 20], "C": [21, 60], "D": [61, 100]},
        },
    },
    {
        "rule_id": "credit.risk_class",
        "version": 2,
        "title": "Enterprise credit-risk classes A/B/C/D, with supervision history",
        "legal_basis": "As version 1; 国市监信发〔2022〕6号 classifies on the enterprise's basic "
        "information, its business, its supervision history (inspections, penalties) and its "
        "industry's risk",
        # Version 1, made one class worse again for an enterprise with supervision history:
        # a penalty, a warning or rectification order, a rectification not done on time, a
        # failed or problem random inspection, or a failed trace inspection in the last two
        # years.
        "values": {
            "by_score": [["A", 750], ["B", 600], ["C", 450], ["D", 0]],
            "high_risk_categories": ["fresh_food", "health_food", "medical_devices"],
            "high_risk_steps": 1,
            "history_kinds": [
                "penalty_serious",
                "penalty",
                "warning",
                "rectification_overdue",
                "spot_check_failed",
                "spot_check_issues",
                "inspection_failed",
            ],
            "history_days": 730,
            "history_steps": 1,
            "sampling_percent": {"A": [0, 5], "B": [5, 20], "C": [21, 60], "D": [61, 100]},
        },
    },
    {
        "rule_id": "credit.scoring",
        "version": 2,
        "title": "Credit scores and public grades, with supervision's decisions",
        "legal_basis": "As version 1; SAMR Measures for the Publicity of Administrative Penalty "
        "Information (市场监督管理行政处罚信息公示规定, 2021): penalties, warnings and "
        "rectification orders of the market regulator weigh on the merchant's credit",
        # Version 1's weights unchanged, with the records supervision's events make: a penalty
        # decision (serious or not), a warning or a rectification order (both `warning`), an
        # ordered rectification not done by its date, and one done on time (a small credit: the
        # decision itself still counts until it decays).
        "values": {
            "base": 600,
            "min": 0,
            "max": 1000,
            "epoch": "2020-01-01",
            "half_life_days": 180,
            "horizon_periods": 6,
            "grades": [["AAA", 850], ["AA", 750], ["A", 600], ["B", 450], ["C", 0]],
            "weights": {
                "order_delivered": {"merchant": 2},
                "pickup_handed_over": {"leader": 2},
                "order_collected": {"resident": 1},
                "order_uncollected": {"resident": -30},
                "temperature_excursion": {"merchant": -40},
                "inspection_failed": {"merchant": -120},
                "batch_recalled": {"merchant": -60},
                "return_refund_overdue": {"merchant": -50},
                "return_refunded": {"merchant": -3},
                "complaint_upheld": {"merchant": -60, "leader": -60},
                "complaint_mediated": {"merchant": -15, "leader": -15},
                "penalty_serious": {"merchant": -300},
                "penalty": {"merchant": -150},
                "warning": {"merchant": -30},
                "rectification_overdue": {"merchant": -80},
                "rectified_on_time": {"merchant": 10},
            },
            "leader_min_grade": "B",
        },
    },
    {
        "rule_id": "credit.scoring",
        "version": 3,
        "title": "Credit scores and public grades, with quality claims, random inspections and "
        "pay-later bills",
        "legal_basis": "As version 2; Consumer Rights Protection Law art. 24 (quality claims "
        "upheld against the merchant); SAMR Opinions on 'double random, one public' "
        "supervision (国发〔2015〕58号: random inspection results enter the enterprise's "
        "credit record); platform rule: abusive claims confirmed by an operator and the "
        "repayment of pick-up-first, pay-later (先提后付) bills weigh on the resident",
        # Version 2's weights unchanged, with: a quality claim decided for the resident (in
        # whole or in part) against the merchant; an abusive claim pattern an operator
        # confirmed, against the resident; a published random-inspection result against (or
        # for) the merchant; a pay-later bill repaid by its due date (+) or overdue (-).
        "values": {
            "base": 600,
            "min": 0,
            "max": 1000,
            "epoch": "2020-01-01",
            "half_life_days": 180,
            "horizon_periods": 6,
            "grades": [["AAA", 850], ["AA", 750], ["A", 600], ["B", 450], ["C", 0]],
            "weights": {
                "order_delivered": {"merchant": 2},
                "pickup_handed_over": {"leader": 2},
                "order_collected": {"resident": 1},
                "order_uncollected": {"resident": -30},
                "temperature_excursion": {"merchant": -40},
                "inspection_failed": {"merchant": -120},
                "batch_recalled": {"merchant": -60},
                "return_refund_overdue": {"merchant": -50},
                "return_refunded": {"merchant": -3},
                "complaint_upheld": {"merchant": -60, "leader": -60},
                "complaint_mediated": {"merchant": -15, "leader": -15},
                "penalty_serious": {"merchant": -300},
                "penalty": {"merchant": -150},
                "warning": {"merchant": -30},
                "rectification_overdue": {"merchant": -80},
                "rectified_on_time": {"merchant": 10},
                "quality_claim_upheld": {"merchant": -10},
                "quality_claim_partly": {"merchant": -5},
                "claim_abuse_confirmed": {"resident": -100},
                "spot_check_passed": {"merchant": 5},
                "spot_check_issues": {"merchant": -30},
                "spot_check_failed": {"merchant": -120},
                "pay_later_repaid": {"resident": 2},
                "pay_later_overdue": {"resident": -80},
            },
            "leader_min_grade": "B",
        },
    },
    {
        "rule_id": "credit.scoring",
        "version": 4,
        "title": "Credit scores and public grades, with online services",
        "legal_basis": "As version 3; platform rule: a booked session the client missed "
        "(no-show) weighs on the resident, a booked session the provider cancelled weighs on "
        "the provider (Consumer Rights Protection Law art. 16: the operator performs what it "
        "agreed with the consumer)",
        # Version 3's weights unchanged, with: a client's no-show of a booked session (the due
        # job at the slot's end) against the resident; a booked session cancelled by the
        # provider (with its reason) against the provider organisation. A client's own
        # cancellation, a course refund the client asked for and a system cancellation (an
        # enrolment not paid in time) count for nobody.
        "values": {
            "base": 600,
            "min": 0,
            "max": 1000,
            "epoch": "2020-01-01",
            "half_life_days": 180,
            "horizon_periods": 6,
            "grades": [["AAA", 850], ["AA", 750], ["A", 600], ["B", 450], ["C", 0]],
            "weights": {
                "order_delivered": {"merchant": 2},
                "pickup_handed_over": {"leader": 2},
                "order_collected": {"resident": 1},
                "order_uncollected": {"resident": -30},
                "temperature_excursion": {"merchant": -40},
                "inspection_failed": {"merchant": -120},
                "batch_recalled": {"merchant": -60},
                "return_refund_overdue": {"merchant": -50},
                "return_refunded": {"merchant": -3},
                "complaint_upheld": {"merchant": -60, "leader": -60},
                "complaint_mediated": {"merchant": -15, "leader": -15},
                "penalty_serious": {"merchant": -300},
                "penalty": {"merchant": -150},
                "warning": {"merchant": -30},
                "rectification_overdue": {"merchant": -80},
                "rectified_on_time": {"merchant": 10},
                "quality_claim_upheld": {"merchant": -10},
                "quality_claim_partly": {"merchant": -5},
                "claim_abuse_confirmed": {"resident": -100},
                "spot_check_passed": {"merchant": 5},
                "spot_check_issues": {"merchant": -30},
                "spot_check_failed": {"merchant": -120},
                "pay_later_repaid": {"resident": 2},
                "pay_later_overdue": {"resident": -80},
                "service_no_show": {"resident": -20},
                "service_cancelled_by_provider": {"merchant": -10},
            },
            "leader_min_grade": "B",
        },
    },
    {
        "rule_id": "credit.scoring",
        "version": 5,
        "title": "Credit scores and public grades, with live orders cancelled by merchants",
        "legal_basis": "As version 4; platform rule: a paid live order its merchant cancelled "
        "before shipment weighs on the merchant as a cancelled booked session does (Consumer "
        "Rights Protection Law art. 16: the operator performs what it agreed with the "
        "consumer; E-Commerce Law art. 49: a contract is formed once the order is submitted)",
        # Version 4's weights unchanged, with: a paid live order cancelled by its merchant
        # (with its reason) before shipment, against the merchant organisation. The buyer's
        # own cancellation counts for nobody.
        "values": {
            "base": 600,
            "min": 0,
            "max": 1000,
            "epoch": "2020-01-01",
            "half_life_days": 180,
            "horizon_periods": 6,
            "grades": [["AAA", 850], ["AA", 750], ["A", 600], ["B", 450], ["C", 0]],
            "weights": {
                "order_delivered": {"merchant": 2},
                "pickup_handed_over": {"leader": 2},
                "order_collected": {"resident": 1},
                "order_uncollected": {"resident": -30},
                "temperature_excursion": {"merchant": -40},
                "inspection_failed": {"merchant": -120},
                "batch_recalled": {"merchant": -60},
                "return_refund_overdue": {"merchant": -50},
                "return_refunded": {"merchant": -3},
                "complaint_upheld": {"merchant": -60, "leader": -60},
                "complaint_mediated": {"merchant": -15, "leader": -15},
                "penalty_serious": {"merchant": -300},
                "penalty": {"merchant": -150},
                "warning": {"merchant": -30},
                "rectification_overdue": {"merchant": -80},
                "rectified_on_time": {"merchant": 10},
                "quality_claim_upheld": {"merchant": -10},
                "quality_claim_partly": {"merchant": -5},
                "claim_abuse_confirmed": {"resident": -100},
                "spot_check_passed": {"merchant": 5},
                "spot_check_issues": {"merchant": -30},
                "spot_check_failed": {"merchant": -120},
                "pay_later_repaid": {"resident": 2},
                "pay_later_overdue": {"resident": -80},
                "service_no_show": {"resident": -20},
                "service_cancelled_by_provider": {"merchant": -10},
                "live_order_cancelled_by_merchant": {"merchant": -10},
            },
            "leader_min_grade": "B",
        },
    },
    {
        "rule_id": "credit.lists",
        "version": 1,
        "title": "The serious-dishonesty list (严重违法失信名单) and the red list",
        "legal_basis": "SAMR Measures for the Administration of the List of Serious Illegal and "
        "Dishonest Entities (SAMR Order No. 44, in force 2021-09-01): entered only by a serious "
        "penalty decision, published 3 years, early removal may be requested after 1 year and "
        "is decided by the authority that listed; red list: platform rule (国办发〔2019〕35号 "
        "incentives for the trustworthy)",
        "values": {
            # serious-dishonesty list: years published; years before early removal may be asked
            "serious_years": 3,
            "early_removal_after_years": 1,
            # red list: a merchant whose public grade is one of these, with credit records
            # going back at least `months`, and no penalty or warning decided in that time
            "red_grades": ["AAA", "AA"],
            "red_months": 6,
            # the weight (percent of the normal) with which supervision draws a merchant for
            # inspection (credit.lists.sampling_weight)
            "sampling_percent": {"red": 50, "normal": 100, "serious": 200},
        },
    },
    {
        "rule_id": "credit.repair",
        "version": 1,
        "title": "Credit repair of published administrative penalties",
        "legal_basis": "SAMR Measures for Credit Repair Management (市场监督管理信用修复管理办法, "
        "2021, a normative document): a published penalty may be repaired once its obligations "
        "are fulfilled and at least 6 months have passed since the decision (1 year for food, "
        "drugs and special equipment); decided by the authority that decided the penalty",
        "values": {
            # years a penalty is published with the merchant's public credit (unless repaired)
            "publication_years": 3,
            "min_months": 6,
            "strict_min_months": 12,
            # business-scope categories under the longer period (food, drugs, special equipment;
            # medical devices counted with drugs)
            "strict_categories": [
                "fresh_food",
                "groceries",
                "health_food",
                "drugs",
                "medical_devices",
                "special_equipment",
            ],
        },
    },
    {
        "rule_id": "credit.pay_later",
        "version": 1,
        "title": "Pick up first, pay later (先提后付): who qualifies, limits and bills",
        "legal_basis": "A deferral of payment on the platform's own terms, without interest or "
        "fees (Civil Code arts. 510-511: the time of payment is what the parties agree); the "
        "limit is decided automatically from the credit score and explained to the resident "
        "(PIPL art. 24: transparency of automated decisions); the repayment record weighs on "
        "the resident's platform credit (rule credit.scoring v3)",
        "values": {
            # the resident grade (credit.scoring) needed to open the facility and to use it
            "min_grade": "A",
            # [minimum score, limit in fen], best first: the first band the score reaches
            "limit_bands": [[850, 200000], [750, 100000], [600, 50000]],
            # bills: one per calendar month (Asia/Shanghai) of the charges, due on this day of
            # the following month (end of day)
            "cycle": "monthly",
            "due_day": 10,
            # after the due date, days before the bill is overdue (and the facility suspended)
            "grace_days": 3,
            # days before the due date the inbox reminds an unpaid bill (10:00 Shanghai)
            "reminder_days": 3,
            # paying every overdue bill in full reactivates a suspended facility
            "reactivate_on_repayment": True,
        },
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
    {
        "rule_id": "supervision.risk_profile",
        "version": 1,
        "title": "Merchant risk profile for regulators: points per factor (never published)",
        "legal_basis": "SAMR Opinions on enterprise credit-risk classification management "
        "(国市监信发〔2022〕6号): the assessment combines the enterprise's credit information, "
        "supervision and inspection data (alerts, cases, penalties) and the risk of its trade; "
        "shown to the regulator with jurisdiction only",
        # Each factor's contribution in points (a profile is at most 100): the credit-risk
        # class by score alone, a high-risk category, alert firings per rule severity in the
        # window, and the authority's cases of the merchant in the window by decision (open and
        # overdue ones besides). The level is the first whose minimum the total reaches.
        "values": {
            "class_points": {"A": 0, "B": 10, "C": 25, "D": 40},
            "category_points": 10,
            "alert_window_days": 90,
            "alert_points": {"low": 2, "medium": 5, "high": 10},
            "alert_cap": 30,
            "case_window_days": 1095,
            "case_points": {
                "no_violation": 0,
                "warning": 5,
                "rectify": 5,
                "penalty": 15,
                "penalty_serious": 30,
                "open": 5,
                "overdue": 10,
            },
            "case_cap": 40,
            "levels": [["high", 60], ["elevated", 30], ["low", 0]],
        },
    },
    {
        "rule_id": "live.commerce",
        "version": 1,
        "title": "Live-stream selling: streamers, rooms, records, advertising pre-review",
        "legal_basis": "Measures for the Administration of Online Live-Stream Marketing (2021) "
        "art. 17 (streamers at least 16, 16-17 with guardian consent), art. 7 (real-name "
        "checks), art. 18 (no faked sales or view counts; negative comments never removed to "
        "mislead), art. 21 (records kept 3 years); SAMR guidance 2020 No. 175 (licence and "
        "after-sales contacts shown continuously; ads for medical goods, drugs, devices and "
        "health foods pre-reviewed)",
        "values": {
            "real_name_streamer": True,
            "min_age": 16,
            # Below this age (and at least min_age) a recorded guardian consent is required.
            "guardian_consent_below": 18,
            "retention_years": 3,
            "licence_display": True,
            # Goods of these categories (or under them) need an advertising pre-review record
            # before the room may go live.
            "pre_review_categories": ["health_food", "medical_devices", "drugs"],
            # A room's scheduled length.
            "schedule_min_minutes": 30,
            "schedule_max_minutes": 1440,
            # Chat: characters per message, messages per viewer per minute.
            "chat_max_chars": 200,
            "chat_per_minute": 10,
        },
    },
    {
        "rule_id": "live.commerce",
        "version": 2,
        "title": "Live-stream selling: streamers, rooms, records, advertising pre-review",
        "legal_basis": "As version 1; platform rule: a room paused because its stream was lost "
        "(the media server's publisher stopped) ends when no stream came back within the grace "
        "period, so its stream stock goes back to the goods' SKUs instead of waiting for the "
        "scheduled end (up to 24 hours)",
        # Version 1's values, with: minutes a room stays paused after its stream was lost
        # before the due job live.stream_lost ends it (an encoder reconnecting publishes again
        # well within them).
        "values": {
            "real_name_streamer": True,
            "min_age": 16,
            "guardian_consent_below": 18,
            # Live content and its records (recordings, chat, channel events, sessions) are
            # kept this many years after the room ended, then purged (live/retention.py).
            "retention_years": 3,
            "licence_display": True,
            "pre_review_categories": ["health_food", "medical_devices", "drugs"],
            "schedule_min_minutes": 30,
            "schedule_max_minutes": 1440,
            "chat_max_chars": 200,
            "chat_per_minute": 10,
            "stream_lost_end_minutes": 30,
        },
    },
    {
        "rule_id": "live.delivery",
        "version": 1,
        "title": "Live orders shipped to the resident: when they count as received",
        "legal_basis": "Civil Code art. 512 (goods of an electronic contract delivered by a "
        "carrier are delivered when the recipient signs for them); platform rule: a shipped "
        "order the resident neither confirms nor reports counts as received this many days "
        "after shipment (the seven-day no-reason return, CRPL art. 25, runs from then)",
        "values": {"auto_receive_days": 10},
    },
    {
        "rule_id": "live.platform_fee",
        "version": 1,
        "title": "Platform service fee on live-selling goods received",
        "legal_basis": "Platform service agreement with merchants (E-Commerce Law art. 35: "
        "fees must be published and not unreasonable)",
        # basis points of the goods' value settled when a live order is received
        "values": {"bp": 200},
    },
    {
        "rule_id": "live.uncollected",
        "version": 1,
        "title": "Live orders not collected from the pickup point",
        "legal_basis": "Platform rule: goods left at a pickup point are refunded after the "
        "collection period (the resident did not receive them, Civil Code art. 604: risk "
        "passes on delivery); 'report' only lists them for the merchant to decide",
        # days after the leader recorded the arrival; action: refund (what is not yet
        # refunded of the order goes back to the resident) | report
        "values": {"days": 3, "action": "refund"},
    },
    {
        "rule_id": "services.training_prepaid",
        "version": 1,
        "title": "Prepaid fees for off-campus training: what one collection may cover",
        "legal_basis": "MOE and five departments, 2021 (教监管函〔2021〕2号): fees go to a "
        "supervised account; no single collection covering more than 3 months or 60 class "
        "hours; 2022 opinion on non-subject training: at most CNY 5,000 per collection; "
        "refunds of unconsumed classes pro rata",
        # A course's fee is collected once, for all its classes: the classes may span at most
        # max_months (from the first class to the last) and max_class_hours (minutes / 60);
        # non-subject training also at most max_fen_non_subject per collection.
        "values": {"max_months": 3, "max_class_hours": 60, "max_fen_non_subject": 500000},
    },
    {
        "rule_id": "services.minors_timetable",
        "version": 1,
        "title": "Timetable limits for classes for minors",
        "legal_basis": "MOE opinions on off-campus training (2021 'double reduction'): online "
        "lessons at most 30 minutes, none after 21:00; offline classes end by 20:30",
        # times are Beijing time, HH:MM: a class for minors must end by them
        "values": {"online_max_minutes": 30, "online_end_by": "21:00", "offline_end_by": "20:30"},
    },
    {
        "rule_id": "services.online_attendance",
        "version": 1,
        "title": "Online classes: the attendance a class's prepaid fee is released for",
        "legal_basis": "MOE and five departments, 2021 (教监管函〔2021〕2号): prepaid fees in "
        "the supervised account are released to the school per class delivered (按课消), never "
        "before; platform rule: an online class counts as delivered to a pupil who was in the "
        "room for at least the share below, with the teacher in the room too",
        # attendance is the union of a party's connections to the room within the class's
        # time (join and leave times); shares are of the class's length
        "values": {"min_share_pct": 50, "practitioner_min_share_pct": 50},
    },
    {
        "rule_id": "services.medical_prescriptions",
        "version": 1,
        "title": "Internet diagnosis: prescriptions written online",
        "legal_basis": "Internet Diagnosis Measures (2018) art. 19; Internet diagnosis "
        "supervision rules (2022) art. 21-23: no narcotic or psychotropic drugs prescribed "
        "online; a pharmacist reviews every prescription before it takes effect; a "
        "prescription is valid on the day issued, extendable to at most 3 days",
        # drug classes (states.DrugClass) a doctor may never prescribe online; a prescription
        # is valid `valid_days` local days from its issue (1: its day), and the doctor may
        # extend it to at most `max_valid_days`
        "values": {
            "banned_online": ["narcotic", "psychotropic_1", "psychotropic_2"],
            "valid_days": 1,
            "max_valid_days": 3,
        },
    },
    {
        "rule_id": "services.medical_records",
        "version": 1,
        "title": "Internet diagnosis: how long medical records are kept",
        "legal_basis": "Internet diagnosis supervision rules (2022) art. 25: medical records "
        "at least 15 years, chat, audio and video 3 years; Prescription Management Measures "
        "(2007) art. 50: ordinary prescriptions 1 year, toxic and class-II psychotropic 2 "
        "years, narcotic and class-I psychotropic 3 years",
        # years after the consultation (records, media) or the prescription's issue; purged
        # by the due job services.medical_purge once the period ended, never before
        "values": {
            "consultation_record_years": 15,
            "media_years": 3,
            "prescription_years": {
                "ordinary": 1,
                "toxic": 2,
                "psychotropic_2": 2,
                "psychotropic_1": 3,
                "narcotic": 3,
            },
        },
    },
]
