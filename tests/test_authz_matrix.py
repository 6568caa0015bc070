"""The authorisation matrix: every API operation and every page route, asked by every kind of
caller, against rows that belong to someone else; the expected outcome is data (TABLE below).

A route without an entry fails `test_every_route_has_an_entry`: a new route states who may use
it here, and (for API routes) which token scope it needs, before it can land.

Outcomes: o = allowed (whatever the route then says about the input: 2xx, 3xx, 400, 409, 422),
h = 404 (missing and forbidden look alike), d = 403, l = 401 (log in; pages take no tokens).
Columns (sessions, in order): anonymous, resident (owns the order), another resident, leader of
the order's pickup point, leader of another point, merchant staff, merchant owner (the order's
merchant), another merchant's owner, regulator in the merchant's region, regulator elsewhere,
platform operator. Tokens with each single scope, for the resident, the leader, the owner and
the operator, are expected to do what their user's session does when the route accepts that
scope, else 403; on pages every token gets 401.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.accounts.identity import CSRF_COOKIE, is_api_path
from linli.accounts.models import ApiToken, Organisation, User
from linli.authz import SCOPES, current_actor, require_user
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.community.models import PickupPoint
from linli.config import Settings
from linli.credit.list_models import PublishedPenalty, SeriousListEntry
from linli.credit.pay_later_models import PayLaterBill
from linli.credit.repair_models import CreditRequest
from linli.events import CaseDecided
from linli.groupbuy.models import Order
from linli.notifications.models import Notification
from linli.outbox import DueJob, OutboxEvent
from linli.payments import ledger
from linli.protection.claim_models import ClaimAbuseFlag, QualityClaim
from linli.protection.return_models import ReturnRequest
from linli.protection.review_models import Review
from linli.services.models import Course, Practitioner, WeeklySlot
from linli.supervision.alert_models import Alert
from linli.supervision.case_models import Case
from linli.supervision.emergency_models import EmergencyDeclaration
from linli.web import CSRF_FIELD, verify_csrf
from tests.factories import (
    category_id,
    grant,
    login,
    make_org,
    make_token,
    make_user,
    png_bytes,
)
from tests.groupbuy.helpers import Resident, Shop, a_shop, bearer, listed_sku, live_in, residents
from tests.groupbuy.test_fulfilment import a_world, buy, past_cutoff
from tests.live_selling.helpers import a_room, a_streamer, identity_number, years_ago

SESSIONS = (
    "anon",
    "resident",
    "other_resident",
    "leader",
    "other_leader",
    "staff",
    "owner",
    "other_merchant",
    "regulator",
    "far_regulator",
    "operator",
)
TOKEN_USERS = ("resident", "leader", "owner", "operator")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = "*"  # public API routes: any token (or none)


# One line per route: outcomes per session column, the scopes a token may carry (comma-separated;
# * = any token, - = a page: no token at all), the method and the path.
TABLE_TEXT = """
ooooooooooo * GET /api/v1/services/slots
loooooooooo resident POST /api/v1/services/bookings
loooooooooo resident GET /api/v1/services/bookings
lhhhhhhhhhh resident GET /api/v1/services/bookings/{booking_id}
lhhhhhhhhhh resident POST /api/v1/services/bookings/{booking_id}/cancel
lhhhhhhhhhh resident,org:read GET /api/v1/services/bookings/{booking_id}/join
lddddoooddd org:read GET /api/v1/services/provider/practitioners
ldddddooddd org:write POST /api/v1/services/provider/practitioners
lddddhhhddd org:read GET /api/v1/services/provider/practitioners/{practitioner_id}/schedule
lddddoooddd org:write POST /api/v1/services/provider/practitioners/{practitioner_id}/schedule
lddddoooddd org:write POST /api/v1/services/provider/practitioners/{practitioner_id}/leave
lddddoooddd org:write POST /api/v1/services/provider/practitioners/{practitioner_id}/slots
lddddoooddd org:read GET /api/v1/services/provider/bookings
lddddoohddd org:write PATCH /api/v1/services/provider/weekly-sessions/{weekly_slot_id}
lddddoohddd org:write POST /api/v1/services/provider/weekly-sessions/{weekly_slot_id}/withdraw
lddddoohddd org:write PATCH /api/v1/services/provider/courses/{course_id}
lddddoohddd org:write POST /api/v1/services/provider/courses/{course_id}/withdraw
lddddhhhddd org:write POST /api/v1/services/provider/bookings/{booking_id}/check-in
lddddhhhddd org:write POST /api/v1/services/provider/bookings/{booking_id}/complete
lddddhhhddd org:write POST /api/v1/services/provider/bookings/{booking_id}/cancel
lddddhhhddd org:write POST /api/v1/services/provider/bookings/{booking_id}/no-show
loooooooooo org:write POST /api/v1/services/provider/slots/{slot_id}/identity
lddddoooddd org:write POST /api/v1/services/provider/courses
ooooooooooo * GET /api/v1/services/courses
lhhhhhhhhhh resident POST /api/v1/services/courses/{course_id}/enrol
loooooooooo resident GET /api/v1/services/enrolments
lhhhhhhhhhh resident POST /api/v1/services/enrolments/{enrolment_id}/refund
loooooooooo resident GET /api/v1/services/consultations
loooooooooo resident POST /api/v1/services/diagnosis-files
lhhhhhhhhhh resident,org:read GET /api/v1/services/consultations/{booking_id}/document
loooooooooo resident GET /api/v1/services/prescriptions
lddddhhhddd org:read GET /api/v1/services/provider/consultations/{booking_id}
lddddhhhddd org:write POST /api/v1/services/provider/consultations/{booking_id}/accept
lddddoooddd org:write POST /api/v1/services/provider/consultations/{booking_id}/reject
lddddoooddd org:write POST /api/v1/services/provider/consultations/{booking_id}/refer
lddddoooddd org:write POST /api/v1/services/provider/consultations/{booking_id}/prescriptions
lddddoooddd org:read GET /api/v1/services/provider/prescriptions
lddddhhhddd org:write POST /api/v1/services/provider/prescriptions/{prescription_id}/approve
lddddhhhddd org:write POST /api/v1/services/provider/prescriptions/{prescription_id}/dispense
lddddoooddd org:write POST /api/v1/services/provider/prescriptions/{prescription_id}/reject
lddddoooddd org:write POST /api/v1/services/provider/prescriptions/{prescription_id}/extend
ldddddddood org:read GET /api/v1/services/regulator/consultations
ldddddddood org:read GET /api/v1/services/regulator/prescriptions
loooooooooo resident POST /api/v1/services/bookings/{booking_id}/review
ooooooooooo * GET /api/v1/services/providers/{organisation_id}/reviews
loooooooooo resident POST /api/v1/services/bookings/{booking_id}/complaint
loooooooooo resident POST /api/v1/services/enrolments/{enrolment_id}/complaint
ooooooooooo - GET /services
ooooooooooo - GET /services/courses
loooooooooo - POST /services/courses/{course_id}/enrol
loooooooooo - POST /services/enrolments/{enrolment_id}/refund
loooooooooo - POST /services/slots/{slot_id}/book
loooooooooo - GET /services/bookings
loooooooooo - POST /services/bookings/{booking_id}/cancel
loooooooooo - POST /services/bookings/{booking_id}/review
loooooooooo - POST /services/bookings/{booking_id}/complaint
loooooooooo - POST /services/enrolments/{enrolment_id}/complaint
lhhhhhhhhhh - GET /services/join/{token}
lddddoooddd - GET /services/desk
lddddoooddd - POST /services/desk/bookings/{booking_id}/check-in
lddddoooddd - POST /services/desk/bookings/{booking_id}/complete
lddddoooddd - POST /services/desk/bookings/{booking_id}/cancel
lddddoooddd - POST /services/desk/bookings/{booking_id}/no-show
loooooooooo - GET /services/desk/identity
loooooooooo - POST /services/slots/{slot_id}/identity
loooooooooo - GET /services/prescriptions
lddddhhhddd - GET /services/desk/consultations/{booking_id}
lddddoooddd - POST /services/desk/consultations/{booking_id}/accept
lddddoooddd - POST /services/desk/consultations/{booking_id}/reject
lddddoooddd - POST /services/desk/consultations/{booking_id}/refer
lddddoooddd - POST /services/desk/consultations/{booking_id}/prescriptions
lddddoooddd - GET /services/desk/prescriptions
lddddoooddd - POST /services/desk/prescriptions/{prescription_id}/approve
lddddoooddd - POST /services/desk/prescriptions/{prescription_id}/dispense
lddddoooddd - POST /services/desk/prescriptions/{prescription_id}/reject
lddddoooddd - POST /services/desk/prescriptions/{prescription_id}/extend
lddddoooddd - GET /services/desk/schedule
ldddddooddd - POST /services/desk/practitioners
lddddoooddd - POST /services/desk/practitioners/{practitioner_id}/schedule
lddddoooddd - POST /services/desk/practitioners/{practitioner_id}/leave
lddddoooddd - POST /services/desk/practitioners/{practitioner_id}/slots
lddddoooddd - POST /services/desk/weekly-sessions/{weekly_slot_id}
lddddoooddd - POST /services/desk/weekly-sessions/{weekly_slot_id}/withdraw
lddddoooddd - POST /services/desk/courses/{course_id}/edit
lddddoooddd - POST /services/desk/courses/{course_id}/withdraw
lddddoooddd - GET /services/desk/courses
lddddoooddd - POST /services/desk/courses
lddddhhhddd - GET /services/desk/courses/{course_id}
ldddddddood - GET /regulator/medical
ldddddddood - GET /regulator/alerts
ldddddddohd - POST /regulator/alerts/{alert_id}/case
ldddddddohd - POST /regulator/alerts/{alert_id}/dismiss
ldddddddood - GET /regulator/cases
ldddddddohd - GET /regulator/cases/{case_id}
ldddddddohd - POST /regulator/cases/{case_id}/entries
ldddddddohd - POST /regulator/cases/{case_id}/decision
ldddddddohd - POST /regulator/cases/{case_id}/rectified
ldddddddohd - GET /regulator/merchants/{organisation_id}/risk
ldddddddood - GET /regulator/emergencies
ldddddddood - POST /regulator/emergencies
ldddddddood - GET /regulator/supervision-rules
ldddddddood - POST /regulator/supervision-rules/{rule_id}
ooooooooooo - GET /supervision/emergencies
ooooooooooo - GET /supervision/emergencies/{declaration_id}
ooooooooooo - GET /supervision/penalties
ldddddddood org:read GET /api/v1/supervision/rules
ldddddddood org:write POST /api/v1/supervision/rules/{rule_id}
ldddddddood org:read GET /api/v1/supervision/alerts
ldddddddohd org:read GET /api/v1/supervision/alerts/{alert_id}
ldddddddood org:write POST /api/v1/supervision/alerts/{alert_id}/dismiss
ldddddddood org:write POST /api/v1/supervision/cases
ldddddddood org:read GET /api/v1/supervision/cases
ldddddddohd org:read GET /api/v1/supervision/cases/{case_id}
ldddddddood org:write POST /api/v1/supervision/cases/{case_id}/assign
ldddddddood org:write POST /api/v1/supervision/cases/{case_id}/entries
ldddddddood org:write POST /api/v1/supervision/cases/{case_id}/decision
ldddddddood org:write POST /api/v1/supervision/cases/{case_id}/rectified
ldddddddohd org:read GET /api/v1/supervision/merchants/{organisation_id}/risk
ldddddddood org:write POST /api/v1/supervision/conflicts
ldddddddood org:write POST /api/v1/supervision/emergencies
ooooooooooo * GET /api/v1/supervision/public/emergencies
ooooooooooo * GET /api/v1/supervision/public/penalties
ldddddddood - GET /regulator/charts
ldddddddood - POST /regulator/charts/basket
ldddddddood org:read GET /api/v1/supervision/charts/alerts
ldddddddood org:read GET /api/v1/supervision/charts/complaint-rate
ldddddddood org:read GET /api/v1/supervision/charts/price-index
ldddddddood org:read GET /api/v1/supervision/charts/basket
ldddddddood org:write PUT /api/v1/supervision/charts/basket
ldddddddooo org:read,platform GET /api/v1/supervision/consumption
ldddddddooo - GET /supervision/consumption
lddddoooddd org:read GET /api/v1/protection/reviews/merchant
loooooooooo resident GET /api/v1/credit/me
loooooooooo leader GET /api/v1/credit/leader
lddddoooddd org:read GET /api/v1/credit/merchant
ldddddddood org:read GET /api/v1/credit/regulator/merchants
ooooooooooo * GET /api/v1/credit/public
ooooooooooo * GET /api/v1/credit/public/{organisation_id}
ooooooooooo * GET /api/v1/credit/public/{organisation_id}/penalties
ooooooooooo * GET /api/v1/credit/lists/serious
ooooooooooo * GET /api/v1/credit/lists/red
lddddoooddd org:read GET /api/v1/credit/merchant/lists
ldddddddood org:read GET /api/v1/credit/regulator/requests
ldddddooddd org:write POST /api/v1/credit/merchant/penalties/{penalty_id}/repair
ldddddooddd org:write POST /api/v1/credit/merchant/list-entries/{entry_id}/removal
ldddddddood org:write POST /api/v1/credit/regulator/requests/{request_id}/decision
ooooooooooo - GET /credit/lists
lddddoooddd - GET /merchant/credit/lists
ldddddddood - GET /regulator/credit/requests
ldddddohddd - POST /merchant/credit/penalties/{penalty_id}/repair
ldddddohddd - POST /merchant/credit/list-entries/{entry_id}/removal
ldddddddohd - POST /regulator/credit/requests/{request_id}/decision
loooooooooo - GET /credit
loooooooooo - GET /credit/pay-later
loooooooooo - POST /credit/pay-later/open
lohhhhhhhhh - POST /credit/pay-later/bills/{bill_id}/pay
loooooooooo resident GET /api/v1/credit/pay-later
loooooooooo resident POST /api/v1/credit/pay-later/open
lohhhhhhhhh resident GET /api/v1/credit/pay-later/bills/{bill_id}
lohhhhhhhhh resident POST /api/v1/credit/pay-later/bills/{bill_id}/pay
loooooooooo - GET /leader/credit
lddddoooddd - GET /merchant/credit
ldddddddood - GET /regulator/credit
ooooooooooo - GET /credit/query
ooooooooooo - GET /credit/query/{organisation_id}
ooooooooooo * GET /api/v1/protection/reviews/merchants/{organisation_id}
loooooooooo resident GET /api/v1/protection/reviews/mine
ooooooooooo * GET /api/v1/protection/reviews/products/{product_id}
ldddddddddo platform GET /api/v1/protection/reviews/hidden
ooooooooooo - GET /m/{organisation_id}/reviews
lddddoooddd - GET /merchant/reviews
ldddddddddo - GET /ops/reviews
ooooooooooo - GET /p/{product_id}/reviews
loooooooooo - GET /reviews/mine
lohhhhhhhhh - GET /reviews/write/{line_id}
loooooooooo resident POST /api/v1/protection/reviews
ldddddddddo platform POST /api/v1/protection/reviews/{review_id}/hide
lddddoooddd org:write POST /api/v1/protection/reviews/{review_id}/reply
lddddoohddd - POST /merchant/reviews/{review_id}/reply
ldddddddddo - POST /ops/reviews/{review_id}/hide
lohhhhhhhhh - POST /reviews/write/{line_id}
lddddoooddd - GET /merchant/complaints
ldddddddddo - GET /ops/complaints
ldddddddood - GET /regulator/complaints
loooooooooo - GET /leader/complaints
loooooooooo - GET /protection/complaints
loooooooooo - GET /protection/complaints/new
lohhhoohohh - GET /protection/complaints/{complaint_id}
lohhhoohohh - GET /protection/complaints/{complaint_id}/attachments/{file_id}
lhhhhhhhhhh - POST /protection/complaints/new
lohhhoohohh - POST /protection/complaints/{complaint_id}/{action}
loooooooooo resident POST /api/v1/protection/complaints
loooooooooo leader GET /api/v1/protection/complaints/about-me
lddddoooddd org:read GET /api/v1/protection/complaints/about-us
ldddddddood org:read GET /api/v1/protection/complaints/jurisdiction
loooooooooo resident GET /api/v1/protection/complaints/mine
ldddddddddo platform GET /api/v1/protection/complaints/platform
lohhhoohohh leader,org:read,platform,resident GET /api/v1/protection/complaints/{complaint_id}
lohhhoohohh leader,org:read,platform,resident GET /api/v1/protection/complaints/{complaint_id}/attachments/{file_id}
ldhhhddhohh org:write,platform POST /api/v1/protection/complaints/{complaint_id}/accept
loooooooooo leader,org:write,platform,resident POST /api/v1/protection/complaints/{complaint_id}/attachments
loooooooooo resident POST /api/v1/protection/complaints/{complaint_id}/escalate
ldhhhddhohh org:write,platform POST /api/v1/protection/complaints/{complaint_id}/mediate
loooooooooo leader,org:write,platform,resident POST /api/v1/protection/complaints/{complaint_id}/messages
loooooooooo org:write,platform POST /api/v1/protection/complaints/{complaint_id}/refuse
loooooooooo org:write,platform POST /api/v1/protection/complaints/{complaint_id}/resolve
lohhhddhdhh resident POST /api/v1/protection/complaints/{complaint_id}/withdraw
loooooooooo resident GET /api/v1/protection/claims
ldddddddddo platform GET /api/v1/protection/claims/escalated
ldddddddddo platform GET /api/v1/protection/claims/flags
lddddoooddd org:read GET /api/v1/protection/claims/merchant
ldddddddddo platform GET /api/v1/protection/claims/residents/{user_id}
lohhhoohhho org:read,platform,resident GET /api/v1/protection/claims/{claim_id}
lhhhhhhhhhh org:read,platform,resident GET /api/v1/protection/claims/{claim_id}/photos/{file_id}
loooooooooo resident POST /api/v1/protection/claims
ldddddddddo platform POST /api/v1/protection/claims/flags/{flag_id}/review
loooooooooo resident POST /api/v1/protection/claims/photos
lddddoooddd org:write POST /api/v1/protection/claims/{claim_id}/decide
lohhhhhhhhh resident POST /api/v1/protection/claims/{claim_id}/escalate
ldddddddddo platform POST /api/v1/protection/claims/{claim_id}/platform-decision
loooooooooo - GET /claims
lohhhhhhhhh - GET /claims/new/{line_id}
lohhhhhhhhh - GET /claims/new-live/{order_id}
lhhhhhhhhhh - GET /claims/{claim_id}/photos/{file_id}
lddddoooddd - GET /merchant/claims
ldddddddddo - GET /platform/claims
ldddddddddo - GET /platform/claims/residents/{user_id}
loooooooooo - POST /claims
lohhhhhhhhh - POST /claims/{claim_id}/escalate
lddddoohddd - POST /merchant/claims/{claim_id}/decide
ldddddddddo - POST /platform/claims/flags/{flag_id}/review
ldddddddddo - POST /platform/claims/{claim_id}/decide
ooooooooooo * GET /api/v1/supervision/disclosure/inspections
ldddddddood org:read GET /api/v1/supervision/plans
ldddddddohd org:read GET /api/v1/supervision/plans/{plan_id}
ldddddddohd org:read GET /api/v1/supervision/plans/{plan_id}/verify
ldddddddood org:write POST /api/v1/supervision/plans
ldddddddohd org:write POST /api/v1/supervision/plans/{plan_id}/draw
ldddddddohd org:read GET /api/v1/supervision/targets/{target_id}/evidence/{file_id}
ldddddddood org:write POST /api/v1/supervision/targets/{target_id}/evidence
ldddddddood org:write POST /api/v1/supervision/targets/{target_id}/result
ooooooooooo - GET /disclosure/inspections
ldddddddood - GET /regulator/inspections
ldddddddood - POST /regulator/inspections
lhhhhhhhohh - GET /regulator/inspections/{plan_id}
lhhhhhhhohh - POST /regulator/inspections/{plan_id}/draw
lhhhhhhhohh - GET /regulator/inspections/targets/{target_id}/evidence/{file_id}
lhhhhhhhohh - POST /regulator/inspections/targets/{target_id}/result
loooooooooo leader,resident POST /api/v1/supervision/reports
loooooooooo leader,resident GET /api/v1/supervision/reports/mine
ldddddddddo platform GET /api/v1/supervision/reports/triage
ldddddddood org:read GET /api/v1/supervision/reports/jurisdiction
lohhhhhhoho leader,org:read,platform,resident GET /api/v1/supervision/reports/{report_id}
lohhhhhhoho leader,org:read,platform,resident GET /api/v1/supervision/reports/{report_id}/photos/{file_id}
ldddddddddo platform POST /api/v1/supervision/reports/{report_id}/forward
ldddddddddo platform POST /api/v1/supervision/reports/{report_id}/close
lhhhhhhhohh org:write,platform POST /api/v1/supervision/reports/{report_id}/acknowledge
loooooooooo org:write,platform POST /api/v1/supervision/reports/{report_id}/outcome
loooooooooo leader,resident POST /api/v1/supervision/reports/{report_id}/photos
loooooooooo - GET /supervision/reports
loooooooooo - GET /supervision/reports/new
loooooooooo - POST /supervision/reports/new
lohhhhhhoho - GET /supervision/reports/{report_id}
lohhhhhhoho - GET /supervision/reports/{report_id}/photos/{file_id}
lohhhhhhoho - POST /supervision/reports/{report_id}/{action}
ldddddddddo - GET /ops/supervision/reports
ldddddddood - GET /regulator/reports
lohhhhhhhhh account DELETE /api/v1/accounts/tokens/{token_id}
ldddddodddd org:write,platform DELETE /api/v1/organisations/{organisation_id}/members/{user_id}/roles/{role}
lddddhhhddd org:write DELETE /epcis/queries/{query_name}
lddddhhhddd org:write DELETE /epcis/queries/{query_name}/subscriptions/{subscription_id}
ooooooooooo - GET /
loooooooooo - GET /account
loooooooooo - GET /account/privacy
loooooooooo - GET /account/privacy/export.json
loooooooooo - POST /account/close
ooooooooooo - GET /privacy
loooooooooo account GET /api/v1/privacy/export
loooooooooo account POST /api/v1/privacy/close-account
ooooooooooo * GET /api/v1/privacy/retention
loooooooooo account GET /api/v1/accounts/me
loooooooooo account GET /api/v1/accounts/tokens
ldddddooooo org:read,platform GET /api/v1/audit
ooooooooooo * GET /api/v1/catalog/categories
lddddoooddd org:read GET /api/v1/catalog/merchant/products
lddddoohddd org:read GET /api/v1/catalog/merchant/products/{product_id}
lddddoohddd org:read GET /api/v1/catalog/merchant/skus/{sku_id}/prices
ooooooooooo * GET /api/v1/catalog/products
ooooooooooo * GET /api/v1/catalog/products/{product_id}
ooooooooooo * GET /api/v1/community/communities
ooooooooooo * GET /api/v1/community/communities/{community_id}
loooooooooo platform,resident GET /api/v1/community/leader-applications
loooooooooo resident GET /api/v1/community/me/residence
ooooooooooo * GET /api/v1/credit-codes/{code}
ooooooooooo * GET /api/v1/live/rooms
ooooooooooo * GET /api/v1/live/rooms/{room_id}
ooooooooooo * GET /api/v1/live/replays
ooooooooooo * GET /api/v1/live/replays/{room_id}
loooooooooo resident POST /api/v1/live/rooms/{room_id}/orders
loooooooooo resident GET /api/v1/live/orders
lddddoooddd org:read GET /api/v1/live/merchant/streamers
ldddddooddd org:write POST /api/v1/live/merchant/streamers
lddddoooddd org:read GET /api/v1/live/merchant/rooms
lddddoooddd org:write POST /api/v1/live/merchant/rooms
lddddoohddd org:read GET /api/v1/live/merchant/rooms/{room_id}
lddddoohddd org:read GET /api/v1/live/merchant/rooms/{room_id}/statistics
lddddoooddd org:write POST /api/v1/live/merchant/rooms/{room_id}/goods
lddddoooddd org:write POST /api/v1/live/merchant/rooms/{room_id}/ad-review
lddddoohddd org:write POST /api/v1/live/merchant/rooms/{room_id}/start
lddddoohddd org:write POST /api/v1/live/merchant/rooms/{room_id}/pause
lddddoohddd org:write POST /api/v1/live/merchant/rooms/{room_id}/resume
lddddoohddd org:write POST /api/v1/live/merchant/rooms/{room_id}/end
lddddoooddd org:write POST /api/v1/live/merchant/rooms/{room_id}/pin
lddddoohddd org:write POST /api/v1/live/merchant/rooms/{room_id}/unpin
lddddoooddd org:write POST /api/v1/live/merchant/rooms/{room_id}/chat/{message_id}/remove
lddddoooddd org:write POST /api/v1/live/merchant/rooms/{room_id}/mutes
ldddddddddo platform POST /api/v1/live/platform/rooms/{room_id}/ban
ldddddddddo platform POST /api/v1/live/platform/streamers/{streamer_id}/suspend
ldddddddddo platform POST /api/v1/live/platform/streamers/{streamer_id}/blacklist
ddddddddddd * POST /api/v1/live/media/on_publish
ddddddddddd * POST /api/v1/live/media/on_publish_done
ddddddddddd * POST /api/v1/live/media/on_record_done
ooooooooooo - GET /live
ooooooooooo - GET /live/{room_id}
hhhhhhhhhhh - GET /live/{room_id}/recordings/{recording_id}.mp4
loooooooooo - POST /live/{room_id}/buy
lddddoooddd - GET /merchant/live
lddddoooddd - POST /merchant/live
ldddddooddd - POST /merchant/live/streamers
lddddoohddd - GET /merchant/live/{room_id}
lddddoohddd - POST /merchant/live/{room_id}/goods
lddddoohddd - POST /merchant/live/{room_id}/ad-review
lddddoohddd - POST /merchant/live/{room_id}/start
lddddoohddd - POST /merchant/live/{room_id}/{action}
ldddddddddo - GET /platform/live
loooooooooo - GET /live/orders
lohhhhhhhhh - POST /live/orders/{order_id}/address
lohhhhhhhhh - POST /live/orders/{order_id}/receive
lohhhhhhhhh - POST /live/orders/{order_id}/cancel
lddddoooddd - GET /merchant/live-orders
lddddoohddd - POST /merchant/live-orders/{order_id}/ship
lddddoohddd - POST /merchant/live-orders/{order_id}/cancel
lohhhhhhhhh resident GET /api/v1/live/orders/{order_id}
loooooooooo resident POST /api/v1/live/orders/{order_id}/address
lohhhhhhhhh resident POST /api/v1/live/orders/{order_id}/receive
lohhhhhhhhh resident POST /api/v1/live/orders/{order_id}/cancel
lddddoooddd org:read GET /api/v1/live/merchant/orders
lddddoooddd org:write POST /api/v1/live/merchant/orders/{order_id}/ship
lddddoooddd org:write POST /api/v1/live/merchant/orders/{order_id}/cancel
lhhohhhhhhh leader GET /api/v1/live/pickup-points/{point_id}/orders
lhhohhhhhhh leader POST /api/v1/live/pickup-points/{point_id}/orders/{order_id}/arrive
loooooooooo leader POST /api/v1/live/pickup-points/{point_id}/handover
loooooooooo leader GET /api/v1/live/leader/commissions
lddddoooddd org:read GET /api/v1/live/merchant/agreements
lddddoooddd org:write POST /api/v1/live/merchant/agreements
lddddoohddd org:write POST /api/v1/live/merchant/agreements/{agreement_id}/end
loooooooooo leader GET /api/v1/live/leader/agreements
lhhohhhhhhh leader POST /api/v1/live/leader/agreements/{agreement_id}/{action}
loooooooooo - GET /leader/live-orders
lhhohhhhhhh - POST /leader/live-orders/{point_id}/orders/{order_id}/arrive
lhhohhhhhhh - POST /leader/live-orders/{point_id}/handover
lddddoooddd - GET /merchant/live-agreements
lddddoooddd - POST /merchant/live-agreements
lddddoohddd - POST /merchant/live-agreements/{agreement_id}/end
loooooooooo - GET /leader/live-agreements
lhhohhhhhhh - POST /leader/live-agreements/{agreement_id}/{action}
ldddddddddo - POST /platform/live/{room_id}/ban
loooooooooo leader POST /api/v1/live/leader/streamer
loooooooooo leader GET /api/v1/live/leader/rooms
loooooooooo leader POST /api/v1/live/leader/rooms
lhhohhhhhhh leader GET /api/v1/live/leader/rooms/{room_id}
lhhohhhhhhh leader POST /api/v1/live/leader/rooms/{room_id}/start
lhhohhhhhhh leader POST /api/v1/live/leader/rooms/{room_id}/pause
lhhohhhhhhh leader POST /api/v1/live/leader/rooms/{room_id}/resume
lhhohhhhhhh leader POST /api/v1/live/leader/rooms/{room_id}/end
loooooooooo leader POST /api/v1/live/leader/rooms/{room_id}/pin
lhhohhhhhhh leader POST /api/v1/live/leader/rooms/{room_id}/unpin
lhhohhhhhhh leader GET /api/v1/live/leader/rooms/{room_id}/statistics
loooooooooo leader POST /api/v1/live/leader/rooms/{room_id}/chat/{message_id}/remove
loooooooooo leader POST /api/v1/live/leader/rooms/{room_id}/mutes
lddddoooddd org:read GET /api/v1/live/merchant/leader-rooms
lddddoooddd org:write POST /api/v1/live/merchant/leader-rooms/{room_id}/goods
lhhoohhhhhh - GET /leader/live
lhhoohhhhhh - POST /leader/live
lhhoohhhhhh - POST /leader/live/streamer
lhhohhhhhhh - GET /leader/live/{room_id}
lhhohhhhhhh - POST /leader/live/{room_id}/start
lhhohhhhhhh - POST /leader/live/{room_id}/{action}
lddddoooddd - GET /merchant/live-supplied
lddddoooddd - POST /merchant/live-supplied/{room_id}/goods
ooooooooooo * GET /api/v1/groupbuy/campaigns
ooooooooooo * GET /api/v1/groupbuy/campaigns/{campaign_id}
lddddoohddd org:read GET /api/v1/groupbuy/campaigns/{campaign_id}/procurement
lddddoohddd org:read GET /api/v1/groupbuy/campaigns/{campaign_id}/procurement.csv
loooooooooo resident GET /api/v1/groupbuy/cart
loooooooooo leader GET /api/v1/groupbuy/leader/deliveries
loooooooooo leader GET /api/v1/groupbuy/leader/earnings
lddddoooddd org:read GET /api/v1/groupbuy/merchant/campaigns
lddddoooddd org:read GET /api/v1/groupbuy/merchant/deliveries
lddddoooddd org:read GET /api/v1/groupbuy/merchant/orders
lddddoooddd org:read GET /api/v1/groupbuy/merchant/sales
loooooooooo resident GET /api/v1/groupbuy/orders
lohhhoohhhh org:read,resident GET /api/v1/groupbuy/orders/{order_id}
lohhhhhhhhh resident GET /api/v1/groupbuy/orders/{order_id}/pickup-qr.svg
lhhohhhhhhh leader GET /api/v1/groupbuy/pickup-points/{point_id}/awaiting/{code}
lhhohhhhhhh leader,org:read GET /api/v1/groupbuy/pickup-points/{point_id}/sorting-list
lhhohhhhhhh leader,org:read GET /api/v1/groupbuy/pickup-points/{point_id}/sorting-list.csv
loooooooooo account GET /api/v1/inbox
loooooooooo account,platform GET /api/v1/merchants/applications
lhhhhhhhhhh account,platform GET /api/v1/merchants/applications/{application_id}
lddddoooddo org:read,platform GET /api/v1/merchants/certifications
lddddoooddd org:read GET /api/v1/merchants/me/licences
ooooooooooo * GET /api/v1/merchants/{organisation_id}/profile
ldddddddddo platform GET /api/v1/ops/jobs
ldddddddddo platform GET /api/v1/ops/outbox
ldddddddddo platform GET /api/v1/ops/outbox/counts
ldddddddddd platform GET /api/v1/organisations
lhhhhoohhhh account,org:read,platform GET /api/v1/organisations/{organisation_id}
lddddoodddd org:read,platform GET /api/v1/organisations/{organisation_id}/members
ldddddddddo platform GET /api/v1/payments/callbacks
loooooooooo org:read,platform,resident GET /api/v1/payments/intents
lohhhoohhho org:read,platform,resident GET /api/v1/payments/intents/{public_id}
ldddddddddo platform GET /api/v1/payments/ledger/accounts/{code}
ldddddddddo platform GET /api/v1/payments/ledger/trial-balance
lddddoooddd org:read GET /api/v1/payments/merchant/balance
loooooooooo resident GET /api/v1/protection/returns
loooooooooo leader GET /api/v1/protection/returns/leader
lddddoooddd org:read GET /api/v1/protection/returns/merchant
lohhhhhhhhh resident GET /api/v1/protection/returns/{return_id}
lohhhhhhhhh resident GET /api/v1/protection/returns/{return_id}/photos/{file_id}
lddddoooddd org:read GET /api/v1/trace/batches
lddddoohddd org:read GET /api/v1/trace/batches/{batch_id}
lddddoohohd org:read GET /api/v1/trace/batches/{batch_id}/safety
lddddoooddd org:read GET /api/v1/trace/devices
ldddddooood org:write GET /api/v1/trace/recalls
ldddddohohd org:write GET /api/v1/trace/recalls/{recall_id}
lddddoooddd org:read GET /api/v1/trace/verify
ldddddooooo - GET /audit
ooooooooooo - GET /catalog
ooooooooooo - GET /communities
lddddoooddd org:read GET /epcis/bizLocations
lddddoooddd org:read GET /epcis/bizSteps
lddddoooddd org:read GET /epcis/capture
lddddhhhddd org:read GET /epcis/capture/{capture_id}
lddddoooddd org:read GET /epcis/dispositions
lddddoooddd org:read GET /epcis/epcs
lddddoooddd org:read GET /epcis/eventTypes
lddddoooddd org:read GET /epcis/events
lddddhhhddd org:read GET /epcis/events/{event_id:path}
lddddoooddd org:read GET /epcis/queries
lddddhhhddd org:read GET /epcis/queries/{query_name}
lddddhhhddd org:read GET /epcis/queries/{query_name}/events
lddddhhhddd org:read GET /epcis/queries/{query_name}/subscriptions
lddddhhhddd org:read GET /epcis/queries/{query_name}/subscriptions/{subscription_id}
lddddoooddd org:read GET /epcis/readPoints
ooooooooooo - GET /export
hhhhhhhhhhh - GET /files/{file_id}
ooooooooooo - GET /groupbuy
loooooooooo - GET /groupbuy/cart
loooooooooo - GET /groupbuy/orders
lohhhhhhhhh - GET /groupbuy/orders/{order_id}
ooooooooooo * GET /healthz
loooooooooo - GET /inbox
loooooooooo - GET /leader
loooooooooo - GET /leader/earnings
loooooooooo - GET /leader/pickup
lhhohhhhhhh - GET /leader/pickup/{point_id}/sorting
loooooooooo - GET /leader/returns
loooooooooo - GET /leader/uncollected
loooooooooo - GET /leaders/apply
ooooooooooo - GET /login
ooooooooooo - GET /m/{organisation_id}
loooooooooo - GET /merchant
lddddoooood - GET /merchant/batches
lddddoohohd - GET /merchant/batches/{batch_id}
lddddoooddd - GET /merchant/devices
lddddoooddd - GET /merchant/groupbuy
lddddoohddd - GET /merchant/groupbuy/{campaign_id}
lddddoohddd - GET /merchant/groupbuy/{campaign_id}/procurement
lddddoohddd - GET /merchant/groupbuy/{campaign_id}/sorting/{point_id}
lddddoooddd - GET /merchant/products
lddddoohddd - GET /merchant/products/{product_id}
ldddddooood - GET /merchant/recalls
lddddoooddd - GET /merchant/returns
loooooooooo - GET /merchants/applications
loooooooooo - GET /merchants/apply
ldddddddddo - GET /ops/certifications
ldddddddddo - GET /ops/communities
ldddddddddo - GET /ops/groupbuy
ldddddddddo - GET /ops/leaders
ldddddddddo - GET /ops/merchants
ldddddddddh - GET /ops/merchants/{application_id}
ldddddddddo - GET /ops/outbox
ldddddddddo - GET /ops/rules
ldddddddddo - GET /ops/rules/calendar
lhhhhoohhhh - GET /orgs/{organisation_id}
ooooooooooo - GET /p/{product_id}
lohhhhhhhhh - GET /pay/{public_id}
ldddddooood - GET /regulator/recalls
loooooooooo - GET /returns
lohhhhhhhhh - GET /returns/new/{line_id}
lohhhhhhhhh - GET /returns/new-live/{order_id}
lohhhhhhhhh - GET /returns/{return_id}/photos/{file_id}
ooooooooooo - GET /signup
ooooooooooo - GET /t/{code}
ooooooooooo - GET /t/{code}/qr.svg
loooooooooo account PATCH /api/v1/accounts/me
lddddoohddd org:write PATCH /api/v1/catalog/merchant/products/{product_id}
loooooooooo - POST /account/password
loooooooooo - POST /account/profile
loooooooooo - POST /account/switch
loooooooooo - POST /account/tokens
lohhhhhhhhh - POST /account/tokens/{token_id}/revoke
ooooooooooo * POST /api/v1/accounts/login
ooooooooooo * POST /api/v1/accounts/logout
loooooooooo account POST /api/v1/accounts/me/password
ooooooooooo * POST /api/v1/accounts/signup
loooooooooo account POST /api/v1/accounts/tokens
lddddoooddd org:write POST /api/v1/catalog/merchant/products
lddddoohddo org:write,platform POST /api/v1/catalog/merchant/products/{product_id}/delist
lddddoooddd org:write POST /api/v1/catalog/merchant/products/{product_id}/images
lddddoohddd org:write POST /api/v1/catalog/merchant/products/{product_id}/list
lddddoooddd org:write POST /api/v1/catalog/merchant/products/{product_id}/skus
lddddoooddd org:write POST /api/v1/catalog/merchant/skus/{sku_id}/stock-adjustments
ldddddddddo platform POST /api/v1/community/communities
loooooooooo resident POST /api/v1/community/leader-applications
ldddddddddo platform POST /api/v1/community/leader-applications/{application_id}/decision
lddddoooddd org:write POST /api/v1/groupbuy/campaigns
lddddoohddd org:write POST /api/v1/groupbuy/campaigns/{campaign_id}/publish
lddddoohddd org:write POST /api/v1/groupbuy/campaigns/{campaign_id}/ship
loooooooooo resident POST /api/v1/groupbuy/cart/checkout
lhhohhhhhhh leader POST /api/v1/groupbuy/deliveries/{delivery_id}/arrive
lddddoohddd org:write POST /api/v1/groupbuy/deliveries/{delivery_id}/ship
loooooooooo resident POST /api/v1/groupbuy/orders
ldddddooddd org:write POST /api/v1/groupbuy/orders/{order_id}/lines/{line_id}/refund
loooooooooo leader POST /api/v1/groupbuy/pickup-points/{point_id}/orders/{order_id}/handover-without-code
loooooooooo leader POST /api/v1/groupbuy/pickup-points/{point_id}/pickups
lohhhhhhhhh account POST /api/v1/inbox/{notification_id}/read
loooooooooo account POST /api/v1/merchants/applications
ldddddddddo platform POST /api/v1/merchants/applications/{application_id}/decision
ldddddddddo platform POST /api/v1/merchants/certifications/{certification_id}/decision
ldddddddddh platform POST /api/v1/merchants/certifications/{certification_id}/revoke
loooooooooo account,org:write POST /api/v1/merchants/files
ldddddooddd org:write POST /api/v1/merchants/me/certifications
ldddddooddd org:write POST /api/v1/merchants/me/licences
ldddddddddo platform POST /api/v1/merchants/{organisation_id}/reverify
ldddddddddo platform POST /api/v1/ops/jobs/{job_id}/requeue
ldddddddddo platform POST /api/v1/ops/outbox/{seq}/requeue
ldddddddddd platform POST /api/v1/organisations
loooooooooo org:write,platform POST /api/v1/organisations/{organisation_id}/members
lllllllllll * POST /api/v1/payments/callbacks/sandbox
loooooooooo resident POST /api/v1/payments/intents
lohhhhhhhhh resident POST /api/v1/payments/intents/{public_id}/cancel
loooooooooo org:write,platform POST /api/v1/payments/intents/{public_id}/refunds
loooooooooo resident POST /api/v1/protection/returns
lddddoooddd org:write POST /api/v1/protection/returns/{return_id}/answer
lddddoooddd org:write POST /api/v1/protection/returns/{return_id}/collect
lddddoooddd org:write POST /api/v1/protection/returns/{return_id}/collection-photos
loooooooooo leader POST /api/v1/protection/returns/{return_id}/photos
loooooooooo leader POST /api/v1/protection/returns/{return_id}/receive
ldddddohddd org:write POST /api/v1/protection/returns/{return_id}/refund
lddddoooddd org:write POST /api/v1/protection/returns/{return_id}/refuse-refund
lddddoooddd org:write POST /api/v1/trace/batches
loooooooooo org:write POST /api/v1/trace/batches/{batch_id}/hold-decision
loooooooooo org:write POST /api/v1/trace/batches/{batch_id}/inspections
loooooooooo org:write POST /api/v1/trace/devices
lddddoohddd org:write POST /api/v1/trace/devices/{device_id}/retire
loooooooooo org:write POST /api/v1/trace/readings
loooooooooo org:write POST /api/v1/trace/recalls
ldddddohohd org:write POST /api/v1/trace/recalls/{recall_id}/close
loooooooooo org:write POST /api/v1/trace/recalls/{recall_id}/lines/{line_id}/returned
loooooooooo - POST /communities/join
lddddoooddd trace:capture POST /epcis/capture
ooooooooooo * OPTIONS /epcis/capture
lddddoooddd org:write POST /epcis/queries
lddddoooddd org:write POST /epcis/queries/{query_name}/subscriptions
loooooooooo - POST /groupbuy/cart/add
loooooooooo - POST /groupbuy/cart/checkout
loooooooooo - POST /groupbuy/cart/update
loooooooooo - POST /groupbuy/order
loooooooooo - POST /inbox/read-all
lohhhhhhhhh - POST /inbox/{notification_id}/open
ooooooooooo - POST /lang
lhhohhhhhhh - POST /leader/deliveries/{delivery_id}/arrive
loooooooooo - POST /leader/pickup/find
loooooooooo - POST /leader/pickup/handover
loooooooooo - POST /leader/pickup/handover-elsewhere
loooooooooo - POST /leader/pickup/{point_id}/orders/{order_id}/without-code
lhhohhhhhhh - POST /leader/returns/{return_id}/receive
loooooooooo - POST /leaders/apply
llllloooooo - POST /login
ooooooooooo - POST /logout
lddddoohohd - POST /merchant/batches/{batch_id}/hold-decision
lddddoohohd - POST /merchant/batches/{batch_id}/inspections
ldddddooddd - POST /merchant/certifications
ldddddooddd - POST /merchant/after-sales
lddddoooddd - POST /merchant/devices
lddddoohddd - POST /merchant/devices/{device_id}/retire
lddddoooddd - POST /merchant/groupbuy
lddddoohddd - POST /merchant/groupbuy/{campaign_id}/deliveries/{delivery_id}/ship
lddddoohddd - POST /merchant/groupbuy/{campaign_id}/publish
lddddoohddd - POST /merchant/groupbuy/{campaign_id}/refund
lddddoohddd - POST /merchant/groupbuy/{campaign_id}/ship-all
ldddddooddd - POST /merchant/licences
lddddoooddd - POST /merchant/products
lddddoohddd - POST /merchant/products/{product_id}
lddddoohddd - POST /merchant/products/{product_id}/delist
lddddoohddd - POST /merchant/products/{product_id}/images
lddddoohddd - POST /merchant/products/{product_id}/list
lddddoohddd - POST /merchant/products/{product_id}/skus
lddddoohddd - POST /merchant/products/{product_id}/skus/{sku_id}/price
lddddoohddd - POST /merchant/products/{product_id}/skus/{sku_id}/stock
ldddddooood - POST /merchant/recalls
ldddddohohd - POST /merchant/recalls/{recall_id}/close
lddddoohddd - POST /merchant/returns/{return_id}/answer
lddddoohddd - POST /merchant/returns/{return_id}/collect
lddddoohddd - POST /merchant/returns/{return_id}/refund
lddddoohddd - POST /merchant/returns/{return_id}/refuse-refund
loooooooooo - POST /merchants/apply
ldddddddddo - POST /ops/certifications/{certification_id}/decision
ldddddddddo - POST /ops/communities
ldddddddddo - POST /ops/jobs/{job_id}/requeue
ldddddddddo - POST /ops/leaders/{application_id}/decision
ldddddddddo - POST /ops/merchants/{application_id}/decision
ldddddddddo - POST /ops/outbox/{seq}/requeue
ldddddddddo - POST /ops/rules/calendar
ldddddddddo - POST /ops/rules/calendar/remove
lhhhhoohhhh - POST /orgs/{organisation_id}/members
lohhhhhhhhh - POST /pay/{public_id}
ldddddooood - POST /regulator/recalls
ldddddohohd - POST /regulator/recalls/{recall_id}/close
loooooooooo - POST /returns
ooooooooooo - POST /signup
loooooooooo account PUT /api/v1/accounts/me/active-organisation
lddddoooddd org:write PUT /api/v1/catalog/merchant/skus/{sku_id}/price
lddddoooddd org:write PUT /api/v1/catalog/merchant/skus/{sku_id}/stock
ldddddooddd org:write PUT /api/v1/merchants/me/after-sales
loooooooooo resident PUT /api/v1/community/me/residence
loooooooooo resident PUT /api/v1/groupbuy/cart/items/{item_id}
"""


@dataclass(frozen=True)
class Expected:
    sessions: dict[str, str]
    scopes: frozenset[str] | None  # None: a page; ANY_SCOPE: any token
    line: str


ANY_SCOPE = frozenset({ANY})


def parse_table(text: str) -> dict[str, Expected]:
    table: dict[str, Expected] = {}
    for line in text.strip().splitlines():
        outcomes, scope_text, method, path = line.split()
        assert len(outcomes) == len(SESSIONS), line
        assert set(outcomes) <= set("ohdl"), line
        key = f"{method} {path}"
        assert key not in table, f"twice in the table: {key}"
        scopes = None if scope_text == "-" else frozenset(scope_text.split(","))
        assert scopes is None or scopes == ANY_SCOPE or scopes <= set(SCOPES), line
        table[key] = Expected(dict(zip(SESSIONS, outcomes, strict=True)), scopes, line)
    return table


TABLE = parse_table(TABLE_TEXT)

# Where a token's single scope gives less than its user's browser session although the route
# takes that scope: a route serving several roles picks the branch by the token's scope.
TOKEN_EXCEPTIONS: dict[tuple[str, str], str] = {
    # the owner's "resident" token sees its own orders and payments, not the merchant's
    ("GET /api/v1/groupbuy/orders/{order_id}", "owner:resident"): "h",
    ("GET /api/v1/payments/intents/{public_id}", "owner:resident"): "h",
    ("GET /api/v1/payments/intents/{public_id}", "owner:platform"): "h",
    ("GET /api/v1/payments/intents/{public_id}", "operator:resident"): "h",
    ("GET /api/v1/payments/intents/{public_id}", "operator:org:read"): "h",
    # "platform" does not carry the owner's organisation permissions, nor "org:*" the
    # operator's platform ones
    ("GET /api/v1/audit", "owner:platform"): "d",
    ("GET /api/v1/merchants/certifications", "owner:platform"): "d",
    ("GET /api/v1/merchants/certifications", "operator:org:read"): "d",
    ("GET /api/v1/organisations/{organisation_id}/members", "owner:platform"): "d",
    (
        "DELETE /api/v1/organisations/{organisation_id}/members/{user_id}/roles/{role}",
        "owner:platform",
    ): "d",
    ("POST /api/v1/catalog/merchant/products/{product_id}/delist", "owner:platform"): "d",
    ("POST /api/v1/catalog/merchant/products/{product_id}/delist", "operator:org:write"): "d",
    # quality claims: a party only in the capacity the token's scope carries (the resident
    # with "resident", the merchant with "org:read", the operator with "platform")
    **{
        ("GET /api/v1/protection/claims/{claim_id}", token): "h"
        for token in (
            "resident:org:read",
            "resident:platform",
            "owner:resident",
            "owner:platform",
            "operator:resident",
            "operator:org:read",
        )
    },
    # complaints: a party only in the capacity the token's scope carries (the complainant with
    # "resident", the merchant with "org:*")
    **{
        (f"{method} /api/v1/protection/complaints/{{complaint_id}}{rest}", token): "h"
        for method, rest in (("GET", ""), ("GET", "/attachments/{file_id}"))
        for token in (
            "owner:resident",
            "owner:leader",
            "owner:platform",
            "resident:leader",
            "resident:org:read",
            "resident:platform",
        )
    },
    **{
        (f"POST /api/v1/protection/complaints/{{complaint_id}}/{step}", token): "h"
        for step in ("accept", "mediate")
        for token in ("owner:platform", "resident:org:write", "resident:platform")
    },
    ("POST /api/v1/protection/complaints/{complaint_id}/withdraw", "owner:resident"): "h",
    # supervision reports: the reporter with "resident" (the capacity they reported in), the
    # operator with "platform"
    **{
        (f"GET /api/v1/supervision/reports/{{report_id}}{rest}", token): "h"
        for rest in ("", "/photos/{file_id}")
        for token in (
            "resident:leader",
            "resident:org:read",
            "resident:platform",
            "operator:resident",
            "operator:leader",
            "operator:org:read",
        )
    },
    # consumption statistics: the operator's platform figures need "platform" ("org:read"
    # carries a regulator's permission, which an operator does not hold)
    ("GET /api/v1/supervision/consumption", "operator:org:read"): "d",
    # the owner's session already took the staff member's role away
    (
        "DELETE /api/v1/organisations/{organisation_id}/members/{user_id}/roles/{role}",
        "owner:org:write",
    ): "h",
}


def app_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every route the application serves (those of included routers too)."""
    for route in app.routes:
        included = getattr(route, "original_router", None)
        for inner in included.routes if included is not None else [route]:
            if isinstance(inner, APIRoute):
                yield inner


def route_keys(app: FastAPI) -> dict[str, APIRoute]:
    keys: dict[str, APIRoute] = {}
    for route in app_routes(app):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            keys[f"{method} {route.path}"] = route
    return keys


def _calls(route: APIRoute) -> list[Any]:
    found: list[Any] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        found.extend(d.call for d in dependant.dependencies)
        stack.extend(dependant.dependencies)
    return found


def declared_scopes(route: APIRoute) -> frozenset[str] | None:
    """The scopes the route's access dependency accepts (None: it has none)."""
    for call in _calls(route):
        access = getattr(call, "access", None)
        if access is not None:
            return frozenset(access)
    return None


def test_every_route_has_an_entry(app: FastAPI) -> None:
    served = route_keys(app)
    served_paths = {key.replace(":path}", "}") for key in served}
    operations = {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
    }
    assert operations <= served_paths, operations - served_paths
    missing = sorted(set(served) - set(TABLE))
    assert not missing, "routes without an entry in the authorisation matrix:\n" + "\n".join(
        missing
    )
    gone = sorted(set(TABLE) - set(served))
    assert not gone, f"entries for routes that no longer exist: {gone}"


def test_every_api_route_states_its_scopes_and_pages_take_none(app: FastAPI) -> None:
    """API routes name their scopes in code (require / require_scope) and the table agrees;
    public API routes are marked * in the table and take no access dependency."""
    for key, route in route_keys(app).items():
        expected = TABLE[key]
        if not is_api_path(route.path):
            if expected.scopes == ANY_SCOPE:  # resolves no actor: a token is never read
                assert current_actor not in _calls(route), f"{key} reads the actor"
            else:
                assert expected.scopes is None, f"{key} is a page: no token scopes"
            continue
        declared = declared_scopes(route)
        if expected.scopes == ANY_SCOPE:
            assert declared is None, f"{key} is public in the table but declares {declared}"
            assert require_user not in _calls(route), f"{key} needs a login: name its scopes"
        else:
            assert declared == expected.scopes, f"{key}: code says {declared}, table says ..."


def test_no_dependency_runs_in_a_thread(app: FastAPI) -> None:
    """FastAPI runs a plain `def` dependency in its thread pool: a hand-off to a worker
    thread and back on every request (12 % of a flash sale's server samples, issue 14).
    Dependencies are `async def` (or async generators)."""
    for key, route in route_keys(app).items():
        for call in _calls(route):
            assert inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call), (
                f"{key}: {call.__module__}.{call.__qualname__} is not async"
            )


def test_every_cookie_write_is_checked_for_csrf(app: FastAPI) -> None:
    """Pages check the form token (verify_csrf); API paths check the header (identity)."""
    for key, route in route_keys(app).items():
        if key.split()[0] in UNSAFE and not is_api_path(route.path):
            assert verify_csrf in _calls(route), f"{key} takes no CSRF token"


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    params: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # "user:scope" -> headers
    page_tokens: set[str] = field(default_factory=set)  # each scope once, users taking turns

    def url(self, route: APIRoute) -> str:
        """The route's path with the world's rows in its parameters."""
        values = self.params | self.overrides.get(route.path, {})
        url = route.path
        for name in route.param_convertors:
            url = url.replace("{" + name + "}", str(values[name])).replace(
                "{" + name + ":path}", str(values[name])
            )
        return url


async def a_live_order(
    client: httpx.AsyncClient, shop: Shop, streamer_id: int, buyer: Resident
) -> int:
    """The buyer's order (collected at their pickup point) in another room of the shop."""
    room = await a_room(client, shop, streamer_id, title="直播发货")
    assert room.status_code == 201, room.text
    rooms = f"/api/v1/live/merchant/rooms/{room.json()['id']}"
    sku_id = await listed_sku(client, shop, stock=10, code="LIVE")
    goods = await client.post(
        f"{rooms}/goods",
        json={"sku_id": sku_id, "stream_price_fen": 990, "stock": 5, "per_buyer_limit": 5},
        headers=shop.headers,
    )
    assert goods.status_code == 201, goods.text
    for step, body in (("start", None), ("pin", {"goods_id": goods.json()["id"]})):
        done = await client.post(f"{rooms}/{step}", json=body, headers=shop.headers)
        assert done.status_code == 200, done.text
    placed = await client.post(
        f"/api/v1/live/rooms/{room.json()['id']}/orders",
        json={
            "goods_id": goods.json()["id"],
            "quantity": 1,
            "pickup": True,
        },
        headers=buyer.headers | {"Idempotency-Key": "matrix-live-order"},
    )
    assert placed.status_code == 201, placed.text
    return int(placed.json()["id"])


async def build_world(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    *,
    sessions: tuple[str, ...] = SESSIONS,
    tokens: bool = True,
) -> tuple[World, dict[str, User], list[httpx.AsyncClient]]:
    """The rows every route is asked about; logged-in clients for `sessions` and (when
    `tokens`) a token of each scope for each of TOKEN_USERS."""
    gb = await a_world(client, session, threshold=1)
    busy, quiet = gb.points
    buyer, neighbour = await residents(session, 2)
    await live_in(session, buyer.user, busy.id)
    await live_in(session, neighbour.user, quiet.id)
    order_id = await buy(client, settings, buyer, gb, [(gb.items[0], 1)], busy)
    batch = await client.post(
        "/api/v1/trace/batches",
        json={
            "sku_id": gb.sku_ids[0],
            "lot": "L2026",
            "production_date": "2026-11-01",
            "origin": "山东烟台",
            "producer": "合作社",
        },
        headers=gb.shop.headers,
    )
    assert batch.status_code == 201, batch.text
    device = await client.post(
        "/api/v1/trace/devices",
        json={"device_id": "cold-room-1", "model": "T100", "name": "冷库"},
        headers=gb.shop.headers,
    )
    assert device.status_code == 201, device.text
    await past_cutoff(app, frozen_clock)
    deliveries = await client.get("/api/v1/groupbuy/merchant/deliveries", headers=gb.shop.headers)
    delivery = next(d for d in deliveries.json() if d["pickup_point_id"] == busy.id)
    shipped = await client.post(
        f"/api/v1/groupbuy/deliveries/{delivery['id']}/ship", headers=gb.shop.headers
    )
    assert shipped.status_code == 200, shipped.text
    arrived = await client.post(
        f"/api/v1/groupbuy/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    checkout = (
        await client.get(f"/api/v1/groupbuy/orders/{order_id}", headers=buyer.headers)
    ).json()
    recall = await client.post(
        "/api/v1/trace/recalls",
        json={"level": 3, "reason": "抽检", "batch_ids": [batch.json()["id"]], "refund": "none"},
        headers=gb.shop.headers,
    )
    assert recall.status_code == 201, recall.text

    registered = await session.get(Organisation, gb.shop.organisation.id)
    assert registered is not None
    registered.province_code, registered.city_code = "310000", "310100"
    await session.commit()
    staff = await make_user(session, name="店员")
    await grant(session, gb.shop.organisation, staff, "staff")
    rival = await a_shop(client, session, name="别家")
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    far_officer = await make_user(session, name="外地")
    far = await make_org(
        session,
        "regulator",
        owner=far_officer,
        name="杭州市场监管局",
        province_code="330000",
        city_code="330100",
    )
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    complaint = await client.post(
        "/api/v1/protection/complaints",
        json={"order_id": order_id, "target": "merchant", "text": "坏了", "to": "regulator"},
        headers=buyer.headers,
    )
    assert complaint.status_code == 201, complaint.text
    assert complaint.json()["regulator_organisation_id"] == regulator.id
    attached = await client.post(
        f"/api/v1/protection/complaints/{complaint.json()['id']}/attachments",
        files={"file": ("photo.png", png_bytes(), "image/png")},
        headers=buyer.headers,
    )
    assert attached.status_code == 201, attached.text
    # Supervision: a drawn random-inspection plan of the regulator (its supervisor and one
    # inspector drawn for the shop), with evidence; a report by the buyer, with a photo,
    # forwarded to the regulator.
    inspector = await make_user(session, name="检查员")
    await grant(session, regulator, inspector, "inspector")
    chief = bearer(await make_token(session, officer, organisation=regulator))
    plan = await client.post(
        "/api/v1/supervision/plans",
        json={
            "name": "抽查",
            "period_start": "2026-11-01",
            "period_end": "2026-12-31",
            "target_count": 1,
        },
        headers=chief,
    )
    assert plan.status_code == 201, plan.text
    drawn = await client.post(f"/api/v1/supervision/plans/{plan.json()['id']}/draw", headers=chief)
    assert drawn.status_code == 200, drawn.text
    target_id = drawn.json()["targets"][0]["id"]
    evidence = await client.post(
        f"/api/v1/supervision/targets/{target_id}/evidence",
        files={"file": ("e.png", png_bytes(), "image/png")},
        headers=chief,
    )
    assert evidence.status_code == 201, evidence.text
    report = await client.post(
        "/api/v1/supervision/reports",
        json={"merchant_organisation_id": gb.shop.organisation.id, "description": "短斤少两"},
        headers=buyer.headers,
    )
    assert report.status_code == 201, report.text
    report_photo = await client.post(
        f"/api/v1/supervision/reports/{report.json()['id']}/photos",
        files={"file": ("p.png", png_bytes(), "image/png")},
        headers=buyer.headers,
    )
    assert report_photo.status_code == 201, report_photo.text
    operator_token = bearer(await make_token(session, operator, organisation=platform))
    # Live selling: a streamer and a scheduled room of the order's merchant.
    live_streamer = await a_streamer(client, gb.shop)
    assert live_streamer.status_code == 201, live_streamer.text
    live_room = await a_room(client, gb.shop, live_streamer.json()["id"])
    assert live_room.status_code == 201, live_room.text
    live_order_id = await a_live_order(client, gb.shop, live_streamer.json()["id"], buyer)
    # A supply offer of the order's merchant to the leader of the order's point.
    agreement = await client.post(
        "/api/v1/live/merchant/agreements",
        json={"pickup_point_id": busy.id, "commission_bp": 800},
        headers=gb.shop.headers,
    )
    assert agreement.status_code == 201, agreement.text
    # A room of the leader of the order's point (the agreement above is only offered: the
    # order's merchant may not supply it).
    leader_streamer = await client.post(
        "/api/v1/live/leader/streamer",
        json={"real_name": "王团长", "identity_number": identity_number(years_ago(40))},
        headers=busy.leader.headers,
    )
    assert leader_streamer.status_code == 201, leader_streamer.text
    leader_room_made = await client.post(
        "/api/v1/live/leader/rooms",
        json={
            "pickup_point_id": busy.id,
            "title": "团长直播",
            "scheduled_start": frozen_clock.now().isoformat(),
            "scheduled_end": (frozen_clock.now() + timedelta(hours=2)).isoformat(),
        },
        headers=busy.leader.headers,
    )
    assert leader_room_made.status_code == 201, leader_room_made.text
    leader_room_id = leader_room_made.json()["id"]
    forwarded = await client.post(
        f"/api/v1/supervision/reports/{report.json()['id']}/forward", headers=operator_token
    )
    assert forwarded.status_code == 200, forwarded.text

    async with app.state.sessionmaker() as s:
        # A review of the buyer's line (the matrix asks who may answer or hide it; the line's
        # goods are not collected here, which the resident's review form then says with 409).
        product_of_line = await s.scalar(select(Sku.product_id).where(Sku.id == gb.sku_ids[0]))
        review = Review(
            order_line_id=checkout["order"]["lines"][0]["id"],
            order_id=order_id,
            user_id=buyer.user.id,
            organisation_id=gb.shop.organisation.id,
            product_id=product_of_line,
            product_name="东北大米",
            rating=4,
            text="",
            photo_file_ids=[],
            created_at=frozen_clock.now(),
        )
        s.add(review)
        await s.commit()
        review_id = review.id
    async with app.state.sessionmaker() as s:
        row = await s.get(Order, order_id)
        assert row is not None
        assert row.pickup_code is not None
        notification_id = await s.scalar(
            select(func.min(Notification.id)).where(Notification.user_id == buyer.user.id)
        )
        token_id = await s.scalar(
            select(func.min(ApiToken.id)).where(ApiToken.user_id == buyer.user.id)
        )
        seq = await s.scalar(select(func.min(OutboxEvent.seq)))
        job_id = await s.scalar(select(func.min(DueJob.id)))
        product_id = await s.scalar(select(Sku.product_id).where(Sku.id == gb.sku_ids[0]))
        point = await s.get(PickupPoint, busy.id)
        assert point is not None
    line_id = checkout["order"]["lines"][0]["id"]
    # A serious penalty of the order's merchant decided by the regulator of its region (as
    # supervision's event makes it), and a removal request waiting for that regulator.
    async with app.state.sessionmaker() as s:
        outbox.publish(
            s,
            CaseDecided(
                case_id=1,
                organisation_id=gb.shop.organisation.id,
                regulator_organisation_id=regulator.id,
                decision="penalty",
                penalty_fen=5_000_000,
                serious=True,
                legal_basis="价格法第十四条",
                rectify_by=None,
                decided_at=frozen_clock.now(),
            ),
        )
        await s.commit()
    await app.state.dispatcher.run_once(jobs=False)
    async with app.state.sessionmaker() as s:
        penalty = await s.scalar(select(PublishedPenalty))
        entry = await s.scalar(select(SeriousListEntry))
        assert penalty is not None
        assert entry is not None
        credit_request = CreditRequest(
            kind="removal",
            target_id=entry.id,
            case_id=1,
            organisation_id=gb.shop.organisation.id,
            regulator_organisation_id=regulator.id,
            status="pending",
            statement="已整改",
            applied_by_user_id=gb.shop.owner.id,
            created_at=frozen_clock.now(),
            rule_id="credit.lists",
            rule_version=1,
        )
        s.add(credit_request)
        await s.commit()
        bill = PayLaterBill(
            user_id=buyer.user.id,
            period="2026-11",
            due_date="2026-12-10",
            due_at=frozen_clock.now() + timedelta(days=15),
            overdue_at=frozen_clock.now() + timedelta(days=18),
            amount_fen=1500,
            paid_fen=0,
            status="open",
            rule_version=1,
            created_at=frozen_clock.now(),
        )
        s.add(bill)
        await s.commit()
        credit_ids = {
            "bill_id": bill.id,
            "penalty_id": penalty.id,
            "entry_id": entry.id,
            "request_id": credit_request.id,
        }
    asked = ReturnRequest(
        user_id=buyer.user.id,
        organisation_id=gb.shop.organisation.id,
        order_id=order_id,
        order_line_id=line_id,
        pickup_point_id=busy.id,
        product_name="东北大米",
        quantity=1,
        unit_price_fen=1500,
        reason_code="changed_mind",
        reason_text="",
        status="requested",
        rule_id="consumer.no_reason_return",
        rule_version=2,
        received_on=frozen_clock.now().date(),
        last_day=frozen_clock.now().date(),
        created_at=frozen_clock.now(),
        answer_due_at=frozen_clock.now() + timedelta(days=30),
        decision_note="",
        condition_note="",
        # A receipt photo, for the resident's photo route (any stored file does).
        photo_file_ids=[attached.json()["file_id"]],
    )
    session.add(asked)
    claimed = QualityClaim(
        user_id=buyer.user.id,
        organisation_id=gb.shop.organisation.id,
        order_id=order_id,
        order_line_id=line_id,
        pickup_point_id=busy.id,
        community_id=point.community_id,
        product_name="东北大米",
        quantity=1,
        unit_price_fen=1500,
        reason_code="defective",
        description="坏了",
        photo_file_ids=[],
        requested_fen=1500,
        status="filed",
        rule_id="consumer.quality_claim",
        rule_version=1,
        picked_up_at=frozen_clock.now(),
        claim_by=frozen_clock.now() + timedelta(days=15),
        created_at=frozen_clock.now(),
        decision_due_at=frozen_clock.now() + timedelta(days=30),
        decision_note="",
        merchant_note="",
        escalation_note="",
    )
    flagged = ClaimAbuseFlag(
        user_id=buyer.user.id,
        community_id=point.community_id,
        status="open",
        claims=3,
        collected_lines=3,
        resident_rate_bp=10_000,
        community_rate_bp=100,
        lookback_days=90,
        rule_id="consumer.quality_claim",
        rule_version=1,
        created_at=frozen_clock.now(),
        review_reason="",
    )
    session.add_all([claimed, flagged])
    await session.commit()
    alert = Alert(
        rule_id="supervision.price_gouging",
        rule_version=1,
        rule_jurisdiction="CN",
        severity="high",
        organisation_id=gb.shop.organisation.id,
        regulator_organisation_id=regulator.id,
        subject="sku:1",
        dedupe_key="matrix",
        status="open",
        count=1,
        summary="",
        inputs={},
        evidence=[],
        first_at=frozen_clock.now(),
        last_at=frozen_clock.now(),
    )
    session.add(alert)
    await session.flush()
    case = Case(
        regulator_organisation_id=regulator.id,
        organisation_id=gb.shop.organisation.id,
        source="report",
        title="matrix",
        status="investigating",
        opened_at=frozen_clock.now(),
        serious=False,
    )
    session.add(case)
    declaration = EmergencyDeclaration(
        regulator_organisation_id=regulator.id,
        title="matrix",
        region_code="310000",
        categories=["fresh_food"],
        starts_at=frozen_clock.now(),
        ends_at=frozen_clock.now() + timedelta(days=1),
        reference_at=frozen_clock.now(),
        created_at=frozen_clock.now(),
    )
    session.add(declaration)
    # The shop runs a weekly class and a course from it: another organisation's ids get 404.
    teacher = Practitioner(
        organisation_id=gb.shop.organisation.id,
        user_id=staff.id,
        real_name="店员",
        credential_kind="teacher",
        credential_number="T-1",
        status="active",
        verified_at=frozen_clock.now(),
    )
    session.add(teacher)
    await session.flush()
    lessons = WeeklySlot(
        practitioner_id=teacher.id,
        organisation_id=gb.shop.organisation.id,
        title="matrix",
        weekday=0,
        start_minute=18 * 60,
        duration_minutes=30,
        capacity=5,
        kind="class",
        mode="offline",
        category_id=await category_id(session, "courses"),
        created_at=frozen_clock.now(),
    )
    session.add(lessons)
    await session.flush()
    lessons_course = Course(
        organisation_id=gb.shop.organisation.id,
        practitioner_id=teacher.id,
        weekly_slot_id=lessons.id,
        title="matrix",
        first_day=frozen_clock.now().date(),
        last_day=frozen_clock.now().date() + timedelta(days=28),
        classes=4,
        class_minutes=30,
        price_per_class_fen=100,
        rule_version=1,
        category_id=lessons.category_id,
        created_at=frozen_clock.now(),
    )
    session.add(lessons_course)
    await session.commit()
    params: dict[str, Any] = {
        "declaration_id": declaration.id,
        "alert_id": alert.id,
        "case_id": case.id,
        "rule_id": "supervision.price_gouging",
        "return_id": asked.id,
        "claim_id": claimed.id,
        "flag_id": flagged.id,
        "organisation_id": gb.shop.organisation.id,
        "user_id": staff.id,
        "role": "staff",
        "product_id": product_id,
        "sku_id": gb.sku_ids[0],
        "community_id": point.community_id,
        "application_id": 999999,
        "campaign_id": gb.campaign["id"],
        "order_id": order_id,
        "line_id": line_id,
        "item_id": gb.items[0],
        "delivery_id": delivery["id"],
        "point_id": busy.id,
        "agreement_id": agreement.json()["id"],
        "code": row.pickup_code,
        "public_id": checkout["payment"]["public_id"],
        "notification_id": notification_id or 999999,
        "token_id": token_id,
        "seq": seq or 999999,
        "job_id": job_id or 999999,
        "batch_id": batch.json()["id"],
        "recall_id": recall.json()["id"],
        "certification_id": 999999,
        "capture_id": str(uuid.uuid4()),
        "event_id": f"urn:uuid:{uuid.uuid4()}",
        "query_name": "no-such-query",
        "subscription_id": str(uuid.uuid4()),
        "file_id": 999999,
        "device_id": device.json()["id"],
        "review_id": review_id,
        "room_id": live_room.json()["id"],
        "message_id": 999999,
        "recording_id": 999999,
        "streamer_id": live_streamer.json()["id"],
        "complaint_id": complaint.json()["id"],
        "plan_id": plan.json()["id"],
        "target_id": target_id,
        "report_id": report.json()["id"],
        "action": "message",
        "slot_id": 999999,
        "booking_id": 999999,
        "practitioner_id": 999999,
        "course_id": 999999,
        "weekly_slot_id": lessons.id,
        "enrolment_id": 999999,
        "prescription_id": 999999,
        "token": "not-a-join-link",
        **credit_ids,
    }
    world = World(params)
    world.overrides = {
        "/api/v1/credit-codes/{code}": {"code": "91350100M000100Y43"},
        "/t/{code}": {"code": batch.json()["code"]},
        "/supervision/reports/{report_id}/{action}": {"action": "acknowledge"},
        "/merchant/live/{room_id}/{action}": {"action": "pause"},
        "/api/v1/live/leader/agreements/{agreement_id}/{action}": {"action": "decline"},
        "/leader/live-agreements/{agreement_id}/{action}": {"action": "decline"},
        "/leader/live/{room_id}/{action}": {"action": "pause", "room_id": leader_room_id},
        **{
            path: {"room_id": leader_room_id}
            for path in (
                "/api/v1/live/leader/rooms/{room_id}",
                "/api/v1/live/leader/rooms/{room_id}/start",
                "/api/v1/live/leader/rooms/{room_id}/pause",
                "/api/v1/live/leader/rooms/{room_id}/resume",
                "/api/v1/live/leader/rooms/{room_id}/end",
                "/api/v1/live/leader/rooms/{room_id}/pin",
                "/api/v1/live/leader/rooms/{room_id}/unpin",
                "/api/v1/live/leader/rooms/{room_id}/statistics",
                "/api/v1/live/leader/rooms/{room_id}/chat/{message_id}/remove",
                "/api/v1/live/leader/rooms/{room_id}/mutes",
                "/api/v1/live/merchant/leader-rooms/{room_id}/goods",
                "/leader/live/{room_id}",
                "/leader/live/{room_id}/start",
                "/merchant/live-supplied/{room_id}/goods",
            )
        },
        **{
            path: {"order_id": live_order_id}
            for path in (
                "/api/v1/live/orders/{order_id}",
                "/api/v1/live/orders/{order_id}/address",
                "/api/v1/live/orders/{order_id}/receive",
                "/api/v1/live/merchant/orders/{order_id}/ship",
                "/api/v1/live/orders/{order_id}/cancel",
                "/api/v1/live/merchant/orders/{order_id}/cancel",
                "/live/orders/{order_id}/cancel",
                "/merchant/live-orders/{order_id}/cancel",
                "/live/orders/{order_id}/address",
                "/live/orders/{order_id}/receive",
                "/merchant/live-orders/{order_id}/ship",
                "/returns/new-live/{order_id}",
                "/claims/new-live/{order_id}",
                "/api/v1/live/pickup-points/{point_id}/orders/{order_id}/arrive",
                "/leader/live-orders/{point_id}/orders/{order_id}/arrive",
            )
        },
        "/t/{code}/qr.svg": {"code": batch.json()["code"]},
        "/api/v1/payments/ledger/accounts/{code}": {
            "code": ledger.merchant_payable(gb.shop.organisation.id)
        },
        "/api/v1/groupbuy/pickup-points/{point_id}/awaiting/{code}": {"code": row.pickup_code},
        **{
            path: {"course_id": lessons_course.id}
            for path in (
                "/api/v1/services/provider/courses/{course_id}",
                "/api/v1/services/provider/courses/{course_id}/withdraw",
                "/services/desk/courses/{course_id}/edit",
                "/services/desk/courses/{course_id}/withdraw",
            )
        },
        **{
            path: {"file_id": evidence.json()["file_id"]}
            for path in (
                "/api/v1/supervision/targets/{target_id}/evidence/{file_id}",
                "/regulator/inspections/targets/{target_id}/evidence/{file_id}",
            )
        },
        **{
            path: {"file_id": report_photo.json()["file_id"]}
            for path in (
                "/api/v1/supervision/reports/{report_id}/photos/{file_id}",
                "/supervision/reports/{report_id}/photos/{file_id}",
            )
        },
        **{
            path: {"file_id": attached.json()["file_id"]}
            for path in (
                "/api/v1/protection/complaints/{complaint_id}/attachments/{file_id}",
                "/protection/complaints/{complaint_id}/attachments/{file_id}",
                "/api/v1/protection/returns/{return_id}/photos/{file_id}",
                "/returns/{return_id}/photos/{file_id}",
            )
        },
    }
    users = {
        "resident": buyer.user,
        "other_resident": neighbour.user,
        "leader": busy.leader.user,
        "other_leader": quiet.leader.user,
        "staff": staff,
        "owner": gb.shop.owner,
        "other_merchant": rival.owner,
        "regulator": officer,
        "far_regulator": far_officer,
        "operator": operator,
    }
    acting = {
        "staff": gb.shop.organisation,
        "owner": gb.shop.organisation,
        "other_merchant": rival.organisation,
        "regulator": regulator,
        "far_regulator": far,
        "operator": platform,
    }
    opened: list[httpx.AsyncClient] = []
    transport = httpx.ASGITransport(app=app)
    for name in sessions:
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(c)
        if name == "anon":
            await c.get("/healthz")
        else:
            await login(c, users[name], organisation=acting.get(name))
        world.sessions[name] = c
    for name in TOKEN_USERS if tokens else ():
        for scope in SCOPES:
            token = await make_token(
                session, users[name], scopes=(scope,), organisation=acting.get(name)
            )
            world.tokens[f"{name}:{scope}"] = bearer(token)
    for i, scope in enumerate(SCOPES):
        world.page_tokens.add(f"{TOKEN_USERS[i % len(TOKEN_USERS)]}:{scope}")
    return world, users, opened


def outcome(response: httpx.Response) -> str:
    if response.status_code >= 500:
        return "E"
    return {401: "l", 403: "d", 404: "h"}.get(response.status_code, "o")


def _order(key: str) -> tuple[int, str]:
    """Reading first, then writing; what ends a session or a token last."""
    method, path = key.split(" ", 1)
    if "logout" in path:
        return (3, key)
    if any(word in path for word in ("switch", "token_id", "active-org", "/roles/")):
        return (2, key)
    return (0 if method not in UNSAFE else 1, key)


async def test_the_authorisation_matrix(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, _users, opened = await build_world(app, client, session, settings, frozen_clock)
    try:
        problems = await _run(app, world)
    finally:
        for c in opened:
            await c.aclose()
    assert not problems, "\n".join(problems)


async def _request(
    c: httpx.AsyncClient, method: str, url: str, *, page: bool, headers: dict[str, str]
) -> httpx.Response:
    if method not in UNSAFE:
        return await c.request(method, url, headers=headers)
    if page:
        csrf = c.cookies.get(CSRF_COOKIE) or ""
        return await c.request(method, url, data={CSRF_FIELD: csrf}, headers=headers)
    return await c.request(method, url, json={}, headers=headers)


async def _run(app: FastAPI, world: World) -> list[str]:
    problems: list[str] = []
    transport = httpx.ASGITransport(app=app)
    bare = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    for key, route in sorted(route_keys(app).items(), key=lambda kv: _order(kv[0])):
        expected = TABLE.get(key)
        method, path = key.split(" ", 1)
        url = world.url(route)
        page = not is_api_path(path)
        got: dict[str, str] = {}
        texts: dict[str, str] = {}
        for name in SESSIONS:
            response = await _request(world.sessions[name], method, url, page=page, headers={})
            got[name] = outcome(response)
            texts[name] = f"{response.status_code} {response.text[:100]}"
        seen = "".join(got[n] for n in SESSIONS)
        if expected is None:
            problems.append(f"no entry: {seen} {key}")
            continue
        if any(got[n] != expected.sessions[n] for n in SESSIONS):
            wrong = [f"{n}: {texts[n]}" for n in SESSIONS if got[n] != expected.sessions[n]]
            problems.append(
                f"sessions: expected {expected.line}\n          got      {seen}\n    "
                + "\n    ".join(wrong)
            )
        for token_name, headers in world.tokens.items():
            user, scope = token_name.split(":", 1)
            if expected.scopes is None and token_name not in world.page_tokens:
                continue  # pages refuse every token alike: one token per scope is enough
            if expected.scopes is None:
                want = "l"
            elif expected.scopes == ANY_SCOPE or scope in expected.scopes:
                want = TOKEN_EXCEPTIONS.get((key, token_name), expected.sessions[user])
            else:
                want = "d"
            response = await _request(bare, method, url, page=page, headers=headers)
            if outcome(response) != want:
                problems.append(
                    f"token {token_name}: {key} expected {want}, got {response.status_code}"
                    f" {response.text[:120]}"
                )
    await bare.aclose()
    return problems
