"""Credit's read models shaped for the API and the pages (shared by both route modules)."""

from __future__ import annotations

from fractions import Fraction

from linli.credit.models import RecordKind, SubjectKind
from linli.credit.risk import RiskRow
from linli.credit.schemas import (
    CreditLineOut,
    CreditRecordOut,
    ExplanationOut,
    LicenceOut,
    MyCreditOut,
    PublicCreditOut,
    RiskRowOut,
)
from linli.credit.scoring import Explanation
from linli.credit.views import CreditView, PublicCredit
from linli.i18n import N_

KIND_LABELS: dict[str, str] = {
    RecordKind.ORDER_DELIVERED: N_("order delivered"),
    RecordKind.PICKUP_HANDED_OVER: N_("pickup handed over with its code"),
    RecordKind.ORDER_COLLECTED: N_("order collected"),
    RecordKind.ORDER_UNCOLLECTED: N_("order not collected"),
    RecordKind.TEMPERATURE_EXCURSION: N_("cold-chain temperature excursion"),
    RecordKind.INSPECTION_FAILED: N_("inspection failed"),
    RecordKind.BATCH_RECALLED: N_("batch recalled"),
    RecordKind.RETURN_REFUND_OVERDUE: N_("return refund overdue"),
    RecordKind.RETURN_REFUNDED: N_("return upheld and refunded"),
    RecordKind.COMPLAINT_UPHELD: N_("complaint upheld"),
    RecordKind.COMPLAINT_MEDIATED: N_("complaint mediated"),
    RecordKind.PENALTY_SERIOUS: N_("serious administrative penalty"),
    RecordKind.PENALTY: N_("administrative penalty"),
    RecordKind.WARNING: N_("warning or rectification order"),
    RecordKind.RECTIFICATION_OVERDUE: N_("rectification not done in time"),
    RecordKind.RECTIFIED_ON_TIME: N_("rectification done on time"),
    RecordKind.QUALITY_CLAIM_UPHELD: N_("quality claim upheld"),
    RecordKind.QUALITY_CLAIM_PARTLY: N_("quality claim partly upheld"),
    RecordKind.CLAIM_ABUSE_CONFIRMED: N_("abusive claims confirmed"),
    RecordKind.SPOT_CHECK_PASSED: N_("random inspection passed"),
    RecordKind.SPOT_CHECK_ISSUES: N_("random inspection found issues"),
    RecordKind.SPOT_CHECK_FAILED: N_("random inspection failed"),
    RecordKind.PAY_LATER_REPAID: N_("pay-later bill repaid on time"),
    RecordKind.PAY_LATER_OVERDUE: N_("pay-later bill overdue"),
    RecordKind.SERVICE_NO_SHOW: N_("booked session missed (no-show)"),
    RecordKind.SERVICE_CANCELLED_BY_PROVIDER: N_("booked session cancelled by the provider"),
    RecordKind.LIVE_ORDER_CANCELLED_BY_MERCHANT: N_(
        "paid live order cancelled by the merchant before shipment"
    ),
}
assert set(KIND_LABELS) == set(RecordKind)

SUBJECT_LABELS: dict[str, str] = {
    SubjectKind.MERCHANT: N_("merchant"),
    SubjectKind.LEADER: N_("group leader"),
    SubjectKind.RESIDENT: N_("resident"),
}
assert set(SUBJECT_LABELS) == set(SubjectKind)


def fraction_text(value: Fraction) -> str:
    return str(value)


def present_explanation(explanation: Explanation) -> ExplanationOut:
    return ExplanationOut(
        rule_id=explanation.rule_id,
        rule_version=explanation.rule_version,
        at=explanation.at,
        base=explanation.base,
        lines=[
            CreditLineOut.from_row(
                line, factor=fraction_text(line.factor), exact=fraction_text(line.exact)
            )
            for line in explanation.lines
        ],
        bound=explanation.bound,
        score=explanation.score,
        grade=explanation.grade,
        expired=explanation.expired,
    )


def present_credit(view: CreditView) -> MyCreditOut:
    return MyCreditOut(
        subject_kind=view.subject_kind,
        score=view.explanation.score,
        grade=view.explanation.grade,
        records=view.records,
        explanation=present_explanation(view.explanation),
        recent=[CreditRecordOut.model_validate(r) for r in view.recent],
    )


def present_public(credit: PublicCredit) -> PublicCreditOut:
    identity = credit.identity
    return PublicCreditOut.from_row(
        identity,
        licences=[LicenceOut.model_validate(licence) for licence in identity.licences],
        grade=credit.grade,
        rule_version=credit.rule_version,
    )


def present_risk(row: RiskRow) -> RiskRowOut:
    return RiskRowOut(
        organisation_id=row.identity.organisation_id,
        name=row.identity.name,
        credit_code=row.identity.credit_code,
        score=row.standing.score,
        grade=row.standing.grade,
        risk_class=row.risk_class,
        by_credit=row.by_credit,
        high_risk_categories=list(row.high_risk_categories),
        supervision_records=row.supervision_records,
        sampling_percent=row.sampling_percent,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )
