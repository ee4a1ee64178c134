"""The floor's catalogue: every code a screen offers or shows (result codes, PCR problem
categories, escalation outcomes, debtor flags, channels, contact-check reasons), each with
its label and what it requires, so that a form is rendered from data and not hard-coded.

Labels are English texts marked for translation (:mod:`app.i18n`); the codes and what they
require come from the rules that enforce them, never restated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.domain.callbacks import CALLBACK_RESULT
from app.domain.contact_check import (
    CONVERSATION_CODES,
    REASON_CODES,
    RESULT_CODES,
    RIGHT_PARTY_CODES,
)
from app.domain.contact_check_packs import ContactChannel, DebtorFlag
from app.domain.interactions import (
    FLAG_FOR_RESULT,
    INVALIDATING_RESULTS,
    NOT_ASKED,
    PCR_NOT_ASKED,
    PROBLEM_CATEGORIES,
    PROMISE_RESULT,
    VISIT_RESULTS,
)
from app.i18n import N_


class Requirement(StrEnum):
    """What recording a result code asks of the form."""

    PCR = "pcr"  # problem category, problem, circumstance and resolution
    PROMISE = "promise"  # amount and due date
    GPS = "gps"  # where the collector stood
    CALLBACK_TIME = "callback_time"  # the debtor's local time agreed for the call back
    DEBTOR_REACHED = "debtor_reached"  # party = debtor
    THIRD_PARTY_REACHED = "third_party_reached"  # party = reference or guarantor


@dataclass(frozen=True, slots=True)
class ResultCodeEntry:
    code: str
    label: str
    requires: frozenset[Requirement]
    channels: frozenset[ContactChannel]  # the channels it may be recorded on
    conversation: bool  # a person was reached (counts for the frequency rules)
    raises_flag: DebtorFlag | None  # the flag it raises on the debtor, stopping contact
    invalidates_contact_point: bool  # counts toward retiring the number or address


RESULT_LABELS: Mapping[str, str] = {
    "RPC": N_("Right-party contact"),
    "RPC_PTP": N_("Promise to pay"),
    "RPC_PAID": N_("Says they already paid"),
    "RPC_REFUSE": N_("Refuses to pay"),
    "RPC_DISPUTE": N_("Disputes the debt"),
    "RPC_CALLBACK": N_("Asked to be called back"),
    "TPC": N_("Third-party contact"),
    "WRONG_NUMBER": N_("Wrong number"),
    "NO_ANSWER": N_("No answer"),
    "VOICEMAIL": N_("Voicemail"),
    "BUSY": N_("Busy"),
    "DISCONNECTED": N_("Number disconnected"),
    "DECEASED": N_("Debtor deceased"),
    "ATTORNEY": N_("Represented by an attorney"),
    "CEASE_REQUEST": N_("Asked that contact cease"),
    "CHANNEL_OPT_OUT": N_("Opted out of this channel"),
    "ADDRESS_VERIFIED": N_("Address verified"),
    "ADDRESS_NOT_FOUND": N_("Address not found"),
    "MOVED": N_("Moved away"),
}

PROBLEM_CATEGORY_LABELS: Mapping[str, str] = {
    "unemployment": N_("Unemployment"),
    "reduced_income": N_("Reduced income"),
    "illness": N_("Illness"),
    "over_indebtedness": N_("Over-indebtedness"),
    "business_failure": N_("Business failure"),
    "family_emergency": N_("Family emergency"),
    "disagrees_with_debt": N_("Disagrees with the debt"),
    "forgot": N_("Forgot to pay"),
    "fraud_claim": N_("Claims fraud"),
    "unwilling": N_("Unwilling to pay"),
    "other": N_("Other"),
    NOT_ASKED: N_("Not asked (the law forbids the question)"),
}


class EscalationStatus(StrEnum):
    OPEN = "open"
    TAKEN = "taken"  # a manager is working it
    RESOLVED = "resolved"


class EscalationOutcome(StrEnum):
    """How management closes an escalation."""

    PLAN_AUTHORISED = "plan_authorised"
    SETTLEMENT_AUTHORISED = "settlement_authorised"
    STRATEGY_CHANGED = "strategy_changed"
    SENT_TO_LEGAL = "sent_to_legal"
    RETURNED_TO_PARTNER = "returned_to_partner"
    DISPUTE_REFERRED = "dispute_referred"
    HARDSHIP_PAUSE = "hardship_pause"
    NO_ACTION = "no_action"
    OTHER = "other"


ESCALATION_OUTCOME_LABELS: Mapping[EscalationOutcome, str] = {
    EscalationOutcome.PLAN_AUTHORISED: N_("Payment plan authorised"),
    EscalationOutcome.SETTLEMENT_AUTHORISED: N_("Settlement authorised"),
    EscalationOutcome.STRATEGY_CHANGED: N_("Contact strategy changed"),
    EscalationOutcome.SENT_TO_LEGAL: N_("Sent to legal collection"),
    EscalationOutcome.RETURNED_TO_PARTNER: N_("Returned to the creditor"),
    EscalationOutcome.DISPUTE_REFERRED: N_("Dispute referred to the creditor"),
    EscalationOutcome.HARDSHIP_PAUSE: N_("Paused for hardship"),
    EscalationOutcome.NO_ACTION: N_("No action: keep collecting"),
    EscalationOutcome.OTHER: N_("Other (explained in the note)"),
}
# The outcome says too little alone: a note must say what was decided.
NOTE_REQUIRED_OUTCOMES = frozenset({EscalationOutcome.OTHER})

FLAG_LABELS: Mapping[DebtorFlag, str] = {
    DebtorFlag.CEASE_CONTACT: N_("Asked that contact cease"),
    DebtorFlag.DISPUTE: N_("Disputes the debt"),
    DebtorFlag.DECEASED: N_("Deceased"),
    DebtorFlag.ATTORNEY: N_("Represented by an attorney"),
    DebtorFlag.MINOR: N_("Minor"),
    DebtorFlag.OLDER_ADULT: N_("Older adult"),
    DebtorFlag.INSOLVENCY: N_("Under an insolvency proceeding"),
    DebtorFlag.VULNERABLE: N_("Vulnerable person"),
}

CHANNEL_LABELS: Mapping[ContactChannel, str] = {
    ContactChannel.CALL: N_("Phone call"),
    ContactChannel.SMS: N_("SMS"),
    ContactChannel.EMAIL: N_("Email"),
    ContactChannel.WHATSAPP: N_("WhatsApp"),
    ContactChannel.LETTER: N_("Letter"),
    ContactChannel.VISIT: N_("Field visit"),
}

REASON_LABELS: Mapping[str, str] = {
    "account_recalled": N_("The creditor recalled the account"),
    "account_closed": N_("The account is closed"),
    "account_inactive": N_("The account is not active"),
    "account_paused": N_("The account is paused"),
    "cease_contact": N_("The debtor asked that contact cease"),
    "deceased": N_("The debtor is deceased"),
    "attorney": N_("The debtor has an attorney"),
    "dispute": N_("The debt is disputed"),
    "insolvency": N_("Under an insolvency proceeding"),
    "vulnerable_person": N_("Vulnerable person"),
    "older_adult_policy": N_("Older adult: the operator's policy"),
    "older_adult_third_party": N_("Older adult: no third parties"),
    "third_party_prohibited": N_("Third parties may not be contacted"),
    "agency_safety_flag": N_("Agency safety flag"),
    "channel_opted_out": N_("The debtor opted out of this channel"),
    "channel_not_consented": N_("No consent for this channel"),
    "channel_not_in_strategy": N_("The strategy does not use this channel"),
    "visits_prohibited": N_("Field visits are not allowed"),
    "invalid_contact_point": N_("The contact point is invalid"),
    "sunday": N_("No contact on Sundays"),
    "closed_day": N_("No contact on this day"),
    "holiday": N_("Public holiday"),
    "outside_hours": N_("Outside the allowed hours"),
    "frequency_cap": N_("Contact limit reached"),
    "after_contact": N_("Too soon after the last contact"),
    "one_channel_a_week": N_("One channel a week"),
    "strategy_cap": N_("The strategy's limit is reached"),
}


def result_code_entry(code: str) -> ResultCodeEntry:
    """What a result code requires, from the rules that check a recording."""
    requires: set[Requirement] = set()
    if code in RIGHT_PARTY_CODES:
        requires |= {Requirement.PCR, Requirement.DEBTOR_REACHED}
    if code == "TPC":
        requires.add(Requirement.THIRD_PARTY_REACHED)
    if code == PROMISE_RESULT:
        requires.add(Requirement.PROMISE)
    if code == CALLBACK_RESULT:
        requires.add(Requirement.CALLBACK_TIME)
    if code in VISIT_RESULTS:
        requires.add(Requirement.GPS)
    return ResultCodeEntry(
        code=code,
        label=RESULT_LABELS[code],
        requires=frozenset(requires),
        channels=frozenset({ContactChannel.VISIT})
        if code in VISIT_RESULTS
        else frozenset(ContactChannel),
        conversation=code in CONVERSATION_CODES,
        raises_flag=FLAG_FOR_RESULT.get(code),
        invalidates_contact_point=code in INVALIDATING_RESULTS,
    )


def result_codes() -> list[ResultCodeEntry]:
    return [result_code_entry(code) for code in sorted(RESULT_CODES)]


def problem_categories() -> list[tuple[str, str, tuple[str, ...]]]:
    """(code, label, the countries only where it applies: empty for everywhere)."""
    return [
        (
            code,
            PROBLEM_CATEGORY_LABELS[code],
            tuple(sorted(PCR_NOT_ASKED)) if code == NOT_ASKED else (),
        )
        for code in sorted(PROBLEM_CATEGORIES | {NOT_ASKED})
    ]


def reason_codes() -> list[tuple[str, str]]:
    return [(code, REASON_LABELS[code]) for code in sorted(REASON_CODES)]
