"""Country rule packs: each country's contact law as versioned data.

A :class:`RulePack` says when a debtor may be contacted (hour windows per weekday in the
contact point's local time, excluded days), how often (frequency caps per channel group and
period, rules that apply after a contact), who may be contacted and told what (references,
guarantors, the script), and which states forbid contact outright. Every value cites its
legal source beside it; the pack's ``sources`` list them all. ``app/domain/contact_check.py``
evaluates a pack against a contact; nothing here does I/O or reads the clock.

An operator may make a pack stricter, never looser: :func:`pack_for` applies overrides
(narrower hours, closed weekdays, excluded dates, lower caps, no visits, consent required)
and refuses anything that would relax the law with a ``ValueError`` naming what and why.

Every refusal the law gives carries its citation (``RulePack.citations`` by reason code,
``FrequencyCap.source``, ``AfterContactRule.source``); anything else is a policy (the
strategy, the operator's stricter settings, the agency's practice) and says so.

Choices made here, beyond the letter of each law:

- Periods: a cap over 1 day counts the contact point's local calendar day; a longer period
  is a rolling window of that many 24-hour days unless the cap counts ``calendar_days``
  (Regulation F). Contacts are counted over all the debtor's accounts and parties except
  where the law counts per debt and person (``per_debt``: Regulation F).
- Hour windows apply to every channel except letters. Windows end exclusive (07:00–22:00:
  21:59 allowed, 22:00 not) unless ``end_included`` (the US, see below). Minutes are whole:
  a contact in the minute of a bound is read as at that bound.
- Chile's "two days between" other-media contacts is read as two whole local days between
  them (Monday, then Thursday at the earliest).

Per pack, each rule and its source:

MX — CONDUSEF, Disposiciones de carácter general ... en materia de Despachos de Cobranza
(DOF 2014-10-07), under LTOSF art. 17 Bis 4 (the numbering of the provision within the
Disposiciones is not repeated here; each citation quotes the rule):
  hours 07:00–22:00 every day in the debtor's time zone ("de acuerdo a los husos horarios");
  no collection from third parties except avales and obligados solidarios (references:
  locate only); no collection with minors; none with older adults "a menos que este último
  sea el deudor" — read as: an older-adult debtor may be contacted, an older adult reached as
  a third party may not; 60 or over per Ley de los Derechos de las Personas Adultas Mayores,
  art. 3 fr. I. No frequency cap in law. Treating every 60+ debtor as vulnerable is only a
  strategy policy (``older_adult_debtors_vulnerable``).
CO — Ley 2300 de 2023: art. 2, only channels the consumer authorised; art. 3, Mon–Fri
  07:00–19:00, Sat 08:00–15:00, never Sundays or holidays, after a direct contact no other
  that day nor another channel that week, never references, no visits.
PE — Ley 29571, art. 61 (no revealing the debt to third parties) and art. 62 b (no calls or
  visits 20:00–07:00, Saturdays, Sundays or holidays).
CL — Ley 19.496 art. 37 (as amended by Ley 21.320): Mon–Sat 08:00–20:00 on working days (CPC
  art. 59); calls and visits together once a week; other media twice a week, two days apart
  ("week" read as a rolling 7 days, over all the debtor's debts).
BR — CDC arts. 42, 42-A, 71: no hour window in law (the whole day is open to the law; any
  hours are the operator's or strategy's policy).
US — Regulation F: 1006.6(b)(1)(i) "before 8:00 a.m. and after 9:00 p.m." local time are
  inconvenient, so 08:00 and 21:00 themselves are allowed (``end_included``); 1006.14(b)(2)
  (i)(A) more than 7 calls within 7 consecutive days to a person about a particular debt, and
  (B) a call within 7 days after a telephone conversation with the person about that debt
  (the conversation's date is day 1), each a presumed violation: counted per account and per
  person, calls the agency placed only (not texts or emails, not calls the consumer placed),
  over local calendar days; a conversation is a right-party one for the debtor. Counting
  across debts or parties is a strategy policy (``calls_across_debts``). 1006.6(b)(2)
  attorney, 1006.6(c)(1) cease, 1006.14(h)(1) opted-out medium, FDCPA 809(b) dispute.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

import holidays

from app.i18n import N_, Message


class ContactChannel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    LETTER = "letter"
    VISIT = "visit"


# How a sentence names a channel ("contact by phone call"), translated like every text.
CHANNEL_WORDS: Mapping[ContactChannel, str] = {
    ContactChannel.CALL: N_("phone call"),
    ContactChannel.SMS: N_("SMS"),
    ContactChannel.EMAIL: N_("email"),
    ContactChannel.WHATSAPP: N_("WhatsApp"),
    ContactChannel.LETTER: N_("letter"),
    ContactChannel.VISIT: N_("field visit"),
}


def channel_words(channels: Iterable[ContactChannel]) -> Message:
    """One channel's words, or several joined by "/" ("phone call/SMS"), in code order."""
    chosen = [c for c in ContactChannel if c in set(channels)]
    keys = [f"channel{index}" for index in range(len(chosen))]
    return Message(
        "/".join("{" + key + "}" for key in keys),
        {key: Message(CHANNEL_WORDS[c]) for key, c in zip(keys, chosen, strict=True)},
    )


class Party(StrEnum):
    """Who a contact reaches (or tries to)."""

    DEBTOR = "debtor"
    REFERENCE = "reference"  # referencias, familiares: located through, never told of the debt
    GUARANTOR = "guarantor"  # aval, deudor solidario, codeudor: may be asked to pay


class DebtorFlag(StrEnum):
    CEASE_CONTACT = "cease_contact"
    DISPUTE = "dispute"
    DECEASED = "deceased"
    ATTORNEY = "attorney"
    MINOR = "minor"
    OLDER_ADULT = "older_adult"
    # Under an insolvency proceeding (concurso): claims go through it, not to the person.
    INSOLVENCY = "insolvency"
    # Recorded by staff (illness, disability, hardship): shown, contact stays possible.
    VULNERABLE = "vulnerable"


class ReferenceRule(StrEnum):
    LOCATE_ONLY = "locate_only"  # may be asked where the debtor is, never told of the debt
    FORBIDDEN = "forbidden"  # may not be contacted at all


class Trigger(StrEnum):
    DIRECT = "direct"  # the debtor themself was reached (RPC*)
    CONVERSATION = "conversation"  # someone was reached (RPC* or TPC)
    # A conversation with the very person now to be contacted, about this debt (Reg F
    # 1006.14(b)(2)(i)(B)): for the debtor a right-party contact.
    PERSON = "person"


# The ``source`` of a cap an operator added: stricter than the law, so a policy, not law.
OPERATOR_SOURCE = "operator override"


WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
# "On Mondays", as a sentence says it, Monday first (like WEEKDAYS).
ON_WEEKDAYS: tuple[str, ...] = (
    N_("on Mondays"),
    N_("on Tuesdays"),
    N_("on Wednesdays"),
    N_("on Thursdays"),
    N_("on Fridays"),
    N_("on Saturdays"),
    N_("on Sundays"),
)
DAY_MINUTES = 24 * 60
MAX_PERIOD_DAYS = 31
ALL_CHANNELS: frozenset[ContactChannel] = frozenset(ContactChannel)


def _minutes(text: str, *, allow_24: bool = False) -> int:
    """'HH:MM' as minutes after midnight ('24:00' only where ``allow_24``)."""
    hours, sep, minutes = str(text).partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"'{text}' is not a time of day as HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > DAY_MINUTES or (value == DAY_MINUTES and not allow_24):
        raise ValueError(f"'{text}' is not a time of day as HH:MM")
    return value


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class HourWindow:
    """Local wall-clock minutes after midnight: ``start`` included, ``end`` excluded (1440 is
    the midnight that ends the day), or included with ``end_included`` (the minute that
    starts at ``end`` is still allowed: Reg F bars only "after 9:00 p.m.")."""

    start: int
    end: int
    end_included: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_MINUTES:
            raise ValueError(f"an hour window runs forward within one day, not {self.label}")
        if self.end_included and self.end == DAY_MINUTES:
            raise ValueError("a window ending at midnight cannot include it")

    @classmethod
    def parse(cls, start: str, end: str) -> HourWindow:
        return cls(_minutes(start), _minutes(end, allow_24=True))

    @property
    def last(self) -> int:
        """The first minute after the window (exclusive end, in minutes)."""
        return self.end + 1 if self.end_included else self.end

    def contains(self, minute_of_day: int) -> bool:
        return self.start <= minute_of_day < self.last

    def within(self, other: HourWindow) -> bool:
        return other.start <= self.start and self.last <= other.last

    @property
    def label(self) -> str:
        included = " (included)" if self.end_included else ""
        return f"{hhmm(self.start)}–{hhmm(self.end)}{included}"

    @property
    def text(self) -> Message:
        """The label for a person, in their language."""
        values = {"start": hhmm(self.start), "end": hhmm(self.end)}
        if self.end_included:
            return Message(N_("{start}–{end} (included)"), values)
        return Message("{start}–{end}", values)


WHOLE_DAY = HourWindow(0, DAY_MINUTES)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``limit`` contacts by the ``channels`` together within ``period_days`` (1: the
    local calendar day; more: a rolling window), and ``min_days_between`` whole local days
    between two of them."""

    channels: frozenset[ContactChannel]
    period_days: int
    limit: int
    min_days_between: int = 0
    source: str = ""
    # Count only contacts the agency placed about the account checked, to the person to be
    # contacted (Reg F counts calls "to a particular person ... about a particular debt").
    per_debt: bool = False
    # Count local calendar days (today and the days before) instead of rolling 24 hours.
    calendar_days: bool = False

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError("a cap counts at least one channel")
        if not 1 <= self.period_days <= MAX_PERIOD_DAYS:
            raise ValueError(f"a cap's period is 1 to {MAX_PERIOD_DAYS} days")
        if self.limit < 0 or self.min_days_between < 0:
            raise ValueError("a cap's limit and days between are 0 or more")

    def bound(self, period_days: int) -> int:
        """The most contacts this cap allows in any window of ``period_days`` days."""
        bound = self.limit * math.ceil(period_days / self.period_days)
        if self.min_days_between:
            bound = min(bound, math.ceil(period_days / (self.min_days_between + 1)))
        return bound


@dataclass(frozen=True, slots=True)
class AfterContactRule:
    """After a ``trigger`` contact by one of ``trigger_channels`` (None: any), no contact by
    ``blocked_channels`` (None: any) for ``days`` (0: the rest of that local day; more: a
    rolling window); with ``other_channels_only``, only channels other than the trigger's."""

    code: str
    trigger: Trigger
    days: int
    description: str
    source: str
    trigger_channels: frozenset[ContactChannel] | None = None
    blocked_channels: frozenset[ContactChannel] | None = None
    other_channels_only: bool = False
    # The trigger's local date is the first of ``days`` calendar days (Reg F), instead of a
    # rolling window of ``days`` × 24 hours.
    calendar_days: bool = False


@dataclass(frozen=True, slots=True)
class RulePack:
    country: str  # ISO 3166-1 alpha-2, also the `holidays` calendar
    version: str  # e.g. "MX-2026.1"; "+…" when an operator made it stricter
    sources: tuple[str, ...]
    hours: tuple[HourWindow | None, ...]  # Monday first; None: no contact that weekday
    hours_in_law: bool  # False: the law sets no window (the whole day is open)
    excludes_holidays: bool
    caps: tuple[FrequencyCap, ...]
    after_contact: tuple[AfterContactRule, ...]
    references: ReferenceRule
    third_party_rule: str  # English marked N_; its source follows it untranslated
    visits_allowed: bool
    consent_required: bool  # only channels the debtor authorised
    vulnerable_flags: frozenset[DebtorFlag]  # flags that forbid contacting the debtor
    dispute_is_hard: bool  # a disputed debt may not be collected at all until resolved
    prohibitions: tuple[str, ...]
    debtor_script: str
    guarantor_script: str
    reference_script: str
    excluded_dates: frozenset[date] = frozenset()
    untimed_channels: frozenset[ContactChannel] = frozenset({ContactChannel.LETTER})
    # The citation (statute, article, paragraph) of each refusal the law gives, by reason
    # code ("hours" for the day and hour rules); a code not here is the agency's policy.
    citations: Mapping[str, str] = field(default_factory=dict)
    third_party_source: str = ""  # the statute behind third_party_rule (a quote: never translated)

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError("a pack has one hour window (or None) per weekday")

    def law_cap(self, channel: ContactChannel, period_days: int) -> int | None:
        """The most contacts by ``channel`` the pack allows in ``period_days`` days (None: it
        sets no number). A strategy's caps must be at most this."""
        bounds = [cap.bound(period_days) for cap in self.caps if channel in cap.channels]
        return min(bounds) if bounds else None

    def window_on(self, weekday: int) -> HourWindow | None:
        return self.hours[weekday]

    def holiday_on(self, day: date) -> str | None:
        """The name of the holiday or operator-excluded date on ``day``, if contact is barred."""
        if day in self.excluded_dates:
            return N_("excluded by the operator")
        if self.excludes_holidays:
            return _holidays(self.country, day.year).get(day)
        return None

    def script_for(self, party: Party) -> str:
        if party is Party.REFERENCE:
            return self.reference_script
        if party is Party.GUARANTOR:
            return self.guarantor_script
        return self.debtor_script


@functools.cache
def _holidays(country: str, year: int) -> Mapping[date, str]:
    return dict(holidays.country_holidays(country, years=year).items())


def _week(
    weekdays: HourWindow | None,
    saturday: HourWindow | None,
    sunday: HourWindow | None,
) -> tuple[HourWindow | None, ...]:
    return (weekdays, weekdays, weekdays, weekdays, weekdays, saturday, sunday)


_REMOTE_MEDIA = frozenset(
    {ContactChannel.SMS, ContactChannel.EMAIL, ContactChannel.WHATSAPP, ContactChannel.LETTER}
)

LOCATE_ONLY_SCRIPT = N_(
    "Identify yourself by name and ask only how to reach the debtor (whereabouts, phone, "
    "address, workplace). Never mention the debt, the creditor or that this is collection."
)

# --- Mexico ------------------------------------------------------------------------------
_MX_CONDUSEF = (
    "CONDUSEF, Disposiciones de carácter general aplicables a las entidades financieras en "
    "materia de Despachos de Cobranza (DOF 2014-10-07, as amended), under LTOSF art. 17 Bis 4"
)
MX = RulePack(
    country="MX",
    version="MX-2026.1",
    sources=(
        _MX_CONDUSEF,
        "Ley para la Transparencia y Ordenamiento de los Servicios Financieros (LTOSF), "
        "art. 17 Bis 4",
        "Ley de los Derechos de las Personas Adultas Mayores, art. 3 fr. I (older adult: 60 or "
        "over)",
    ),
    # CONDUSEF despachos rules: contact only 07:00–22:00 in the debtor's time zone, every day.
    hours=_week(
        HourWindow(7 * 60, 22 * 60), HourWindow(7 * 60, 22 * 60), HourWindow(7 * 60, 22 * 60)
    ),
    hours_in_law=True,
    excludes_holidays=False,  # the rules bar no days, only hours
    caps=(),  # no frequency cap in law; the partner's strategy sets its own
    after_contact=(),
    # CONDUSEF rules: no collection from third parties, references or beneficiaries, except
    # guarantors and joint obligors (avales, obligados solidarios).
    references=ReferenceRule.LOCATE_ONLY,
    third_party_rule=N_(
        "Never collect from references or family; guarantors (aval, obligado solidario) may be "
        "asked to pay."
    ),
    third_party_source=_MX_CONDUSEF,
    visits_allowed=True,  # visits are allowed within the same hours
    consent_required=False,
    # CONDUSEF rules: no collection, negotiation or restructuring with minors, nor with older
    # adults "a menos que este último sea el deudor": an older-adult debtor may be collected
    # from; an older adult reached as a third party may not (compliance._vulnerable_reasons).
    vulnerable_flags=frozenset({DebtorFlag.MINOR, DebtorFlag.OLDER_ADULT}),
    dispute_is_hard=False,
    citations={
        "hours": _MX_CONDUSEF + ": contact or visits only 07:00–22:00 in the debtor's time zone",
        "vulnerable_person": _MX_CONDUSEF + ": no collection, negotiation or restructuring "
        "with minors",
        "older_adult_third_party": _MX_CONDUSEF + ": no collection, negotiation or "
        'restructuring with older adults unless the older adult is the debtor ("a menos que '
        'este último sea el deudor"); older adult: 60 or over, Ley de los Derechos de las '
        "Personas Adultas Mayores, art. 3 fr. I",
    },
    prohibitions=(
        N_(
            "No collection with minors, nor with older adults (60+) unless the older adult is the "
            "debtor (CONDUSEF despachos rules)."
        ),
        N_("No hidden, private or unidentifiable caller id (CONDUSEF despachos rules)."),
        N_(
            "No names resembling public institutions; no documents that look like court papers "
            "(CONDUSEF despachos rules)."
        ),
        N_(
            "No threats, insults or intimidation of the debtor, family, co-workers or anyone "
            "unrelated to the debt (CONDUSEF despachos rules)."
        ),
        N_("No public lists, posters or notices of debtors (CONDUSEF despachos rules)."),
        N_("Payment only to the creditor, never to the agency (CONDUSEF despachos rules)."),
        N_(
            "Every negotiation, restructuring or payment plan in a written agreement (CONDUSEF "
            "despachos rules)."
        ),
    ),
    debtor_script=(
        N_(
            "Identify yourself, the agency (as registered in REDECO) and the creditor; state the "
            "contract, the amount owed and the date it was calculated; payment only to the "
            "creditor's accounts, never to the agency; put any agreement in writing."
        )
    ),
    guarantor_script=(
        N_(
            "The guarantor (aval, obligado solidario) may be asked to pay: identify yourself, the "
            "agency and the creditor as with the debtor; put any agreement in writing."
        )
    ),
    reference_script=LOCATE_ONLY_SCRIPT,
)

# --- Colombia ----------------------------------------------------------------------------
_CO_ART2 = "Ley 2300 de 2023 (Colombia), art. 2: only the channels the consumer authorised"
_CO_ART3 = (
    "Ley 2300 de 2023 (Colombia), art. 3: Mon–Fri 07:00–19:00, Sat 08:00–15:00, never Sundays "
    "or holidays; after a direct contact, not again that day nor by several channels in the "
    "week; never references; no home or work visits; do not ask why payment stopped"
)
CO = RulePack(
    country="CO",
    version="CO-2026.1",
    sources=(
        _CO_ART2,
        _CO_ART3,
        "Ley 51 de 1983 (Ley Emiliani): the public holidays, as the `holidays` package computes",
    ),
    # Ley 2300 art. 3: Mon–Fri 07:00–19:00, Sat 08:00–15:00, no Sundays.
    hours=_week(HourWindow(7 * 60, 19 * 60), HourWindow(8 * 60, 15 * 60), None),
    hours_in_law=True,
    excludes_holidays=True,  # Ley 2300 art. 3: never on holidays (festivos)
    caps=(),  # no count of attempts in law; the after-contact rules below apply
    after_contact=(
        AfterContactRule(
            code="after_contact",
            trigger=Trigger.DIRECT,
            days=0,
            description=N_("After a direct contact with the debtor, no other contact that day."),
            source=_CO_ART3,
        ),
        AfterContactRule(
            code="one_channel_a_week",
            trigger=Trigger.DIRECT,
            days=7,
            other_channels_only=True,
            description=N_("After a direct contact, only that contact's channel for 7 days."),
            source=_CO_ART3,
        ),
    ),
    references=ReferenceRule.FORBIDDEN,  # Ley 2300 art. 3: never references
    third_party_rule=N_(
        "Never contact references; guarantors and co-debtors (avalistas, codeudores) only under "
        "the same rules as the debtor."
    ),
    third_party_source=_CO_ART3,
    visits_allowed=False,  # Ley 2300 art. 3: no visits to home or workplace
    consent_required=True,  # Ley 2300 art. 2
    vulnerable_flags=frozenset(),
    dispute_is_hard=False,
    citations={
        "hours": _CO_ART3,
        "third_party_prohibited": _CO_ART3,
        "visits_prohibited": _CO_ART3,
        "channel_not_consented": _CO_ART2,
    },
    prohibitions=(
        N_("No home or workplace visits (Ley 2300 de 2023 art. 3)."),
        N_("Only the channels the debtor authorised (Ley 2300 de 2023 art. 2)."),
        N_("Do not ask the debtor why they stopped paying (Ley 2300 de 2023 art. 3)."),
        N_("Never contact references (Ley 2300 de 2023 art. 3)."),
    ),
    debtor_script=(
        N_(
            "Identify yourself and the creditor; use only the channel the debtor authorised; do "
            "not ask why they stopped paying."
        )
    ),
    guarantor_script=(
        N_(
            "Guarantors and co-debtors (avalistas, codeudores) may be asked to pay, under the same "
            "hours and channel rules as the debtor; do not ask why the debt went unpaid."
        )
    ),
    reference_script=N_("References may not be contacted in Colombia (Ley 2300 de 2023 art. 3)."),
)

# --- Peru --------------------------------------------------------------------------------
_PE_61 = (
    "Ley 29571, Código de Protección y Defensa del Consumidor (Peru), art. 61: no collection "
    "that harms the consumer's reputation or privacy, or reveals the debt to third parties"
)
_PE_62 = (
    "Ley 29571 art. 62: no visits or calls between 20:00 and 07:00 nor on Saturdays, Sundays "
    "and holidays; no fake judicial notices; no posters, placards or public lists"
)
PE = RulePack(
    country="PE",
    version="PE-2026.1",
    sources=(_PE_61, _PE_62),
    # Ley 29571 art. 62 b: Mon–Fri 07:00–20:00; no Saturdays, Sundays or holidays.
    hours=_week(HourWindow(7 * 60, 20 * 60), None, None),
    hours_in_law=True,
    excludes_holidays=True,  # art. 62 b: feriados
    caps=(),
    after_contact=(),
    references=ReferenceRule.LOCATE_ONLY,  # art. 61: never reveal the debt to third parties
    third_party_rule=N_("Never reveal the debt to third parties."),
    third_party_source=_PE_61,
    visits_allowed=True,
    consent_required=False,
    vulnerable_flags=frozenset(),
    dispute_is_hard=False,
    citations={"hours": _PE_62},
    prohibitions=(
        N_("No documents that look like judicial notices (Ley 29571 art. 62 a)."),
        N_(
            "No posters or writings demanding payment at the debtor's or guarantor's home or "
            "elsewhere (art. 62 c)."
        ),
        N_(
            "No people with placards or unusual clothing near the debtor's home or workplace "
            "(art. 62 d)."
        ),
        N_("No lists of debtors in the media without a court order (art. 62 e)."),
    ),
    debtor_script=(
        N_(
            "Identify yourself and the creditor; never send papers that look like court notices; "
            "never discuss the debt with anyone but the debtor or guarantor."
        )
    ),
    guarantor_script=N_("The guarantor (garante) may be asked to pay, under the same rules."),
    reference_script=LOCATE_ONLY_SCRIPT,
)

# --- Chile -------------------------------------------------------------------------------
_CL_37 = (
    "Ley 19.496 (Chile), art. 37 as amended by Ley 21.320 (2021): Mon–Sat 08:00–20:00 on "
    "working days; 1 call or visit a week; other media 2 a week with at least 2 days "
    "between; never tell third parties of the debt; keep the action log 2 years"
)
_CL_CPC = "Código de Procedimiento Civil (Chile), art. 59: working days are those not holidays"
CL = RulePack(
    country="CL",
    version="CL-2026.1",
    sources=(_CL_37, _CL_CPC),
    # Ley 19.496 art. 37 (Ley 21.320): Monday to Saturday, 08:00–20:00.
    hours=_week(HourWindow(8 * 60, 20 * 60), HourWindow(8 * 60, 20 * 60), None),
    hours_in_law=True,
    excludes_holidays=True,  # working days only (CPC art. 59)
    caps=(
        # art. 37: calls and visits together, once a week.
        FrequencyCap(frozenset({ContactChannel.CALL, ContactChannel.VISIT}), 7, 1, source=_CL_37),
        # art. 37: other media twice a week, at least two days between them.
        FrequencyCap(_REMOTE_MEDIA, 7, 2, min_days_between=2, source=_CL_37),
    ),
    after_contact=(),
    references=ReferenceRule.LOCATE_ONLY,  # art. 37: no communications to third parties
    third_party_rule=N_("Never tell third parties of the debt."),
    third_party_source=_CL_37,
    visits_allowed=True,
    consent_required=False,
    vulnerable_flags=frozenset(),
    dispute_is_hard=False,
    citations={"hours": _CL_37},
    prohibitions=(
        N_("No documents that look like court papers (Ley 19.496 art. 37)."),
        N_("Stop out-of-court collection once a lawsuit is served (Ley 19.496 art. 37)."),
        N_(
            "Keep the log of each collection action, its kind and frequency, for 2 years "
            "(Ley 19.496 art. 37)."
        ),
    ),
    debtor_script=(
        N_(
            "Identify yourself and the creditor; state the debt; no documents that look like "
            "court papers."
        )
    ),
    guarantor_script=N_(
        "The guarantor (aval, codeudor) may be asked to pay, under the same rules."
    ),
    reference_script=LOCATE_ONLY_SCRIPT,
)

# --- Brazil ------------------------------------------------------------------------------
_BR_42 = (
    "Lei 8.078/1990, Código de Defesa do Consumidor (Brazil), art. 42: the debtor may not be "
    "exposed to ridicule, embarrassment or threats"
)
_BR_42A = "CDC art. 42-A: the creditor's name and CPF/CNPJ on every collection document"
_BR_71 = (
    "CDC art. 71: a crime to collect with threats, coercion or by interfering with the "
    "consumer's work, rest or leisure"
)
BR = RulePack(
    country="BR",
    version="BR-2026.1",
    sources=(_BR_42, _BR_42A, _BR_71),
    # No hour window in law (CDC art. 42 and 71 forbid embarrassment and interfering with
    # rest, without hours): the whole day is open; partners set their own in the strategy.
    hours=_week(WHOLE_DAY, WHOLE_DAY, WHOLE_DAY),
    hours_in_law=False,
    excludes_holidays=False,
    caps=(),
    after_contact=(),
    references=ReferenceRule.LOCATE_ONLY,  # art. 42: never expose the debtor
    third_party_rule=N_("Never expose the debtor to others."),
    third_party_source=_BR_42,
    visits_allowed=True,
    consent_required=False,
    vulnerable_flags=frozenset(),
    dispute_is_hard=False,
    prohibitions=(
        N_("Never expose the debtor to ridicule, embarrassment or threats (CDC art. 42)."),
        N_("The creditor's name and CPF/CNPJ on every document (CDC art. 42-A)."),
        N_("No threats, coercion or interference with work, rest or leisure (CDC art. 71)."),
    ),
    debtor_script=(
        N_(
            "Identify yourself and the creditor by name and CNPJ; never threaten or embarrass the "
            "debtor."
        )
    ),
    guarantor_script=N_(
        "The guarantor (fiador, avalista) may be asked to pay, under the same rules."
    ),
    reference_script=LOCATE_ONLY_SCRIPT,
)

# --- United States -----------------------------------------------------------------------
_US_HOURS = (
    "12 CFR 1006.6(b)(1)(i) (Regulation F): a time before 8:00 a.m. or after 9:00 p.m. local "
    "time at the consumer's location is inconvenient (8:00 and 9:00 p.m. themselves are not)"
)
_US_CALLS_A = (
    "12 CFR 1006.14(b)(2)(i)(A) (Regulation F): violation presumed above 7 telephone calls to "
    "a particular person within 7 consecutive days about a particular debt; (b)(2)(ii): a "
    "call about several debts counts for each"
)
_US_CALLS_B = (
    "12 CFR 1006.14(b)(2)(i)(B) (Regulation F): violation presumed for a telephone call "
    "within 7 days after a telephone conversation with the person about that debt; the date "
    "of the conversation is the first of the 7 consecutive days"
)
_US_CALLS = _US_CALLS_A + "; " + _US_CALLS_B
_US_LOCATION = "12 CFR 1006.10: third parties may only be asked for location information"
US = RulePack(
    country="US",
    version="US-2026.1",
    sources=(
        _US_HOURS,
        _US_CALLS,
        _US_LOCATION,
        "12 CFR 1006.6(b)(2) and (c): not the consumer when represented by an attorney; cease "
        "on the consumer's request",
        "15 U.S.C. 1692g(b) (FDCPA §809(b)): stop collecting a disputed debt until verified",
        "12 CFR 1006.6(e): an opt-out notice in every electronic communication",
        "12 CFR 1006.26(b): no suit on a time-barred debt",
    ),
    # Reg F 1006.6(b)(1)(i): before 08:00 and after 21:00 are inconvenient, so 08:00 and 21:00
    # are allowed: the window is 08:00 up to and including the minute of 21:00.
    hours=_week(
        HourWindow(8 * 60, 21 * 60, end_included=True),
        HourWindow(8 * 60, 21 * 60, end_included=True),
        HourWindow(8 * 60, 21 * 60, end_included=True),
    ),
    hours_in_law=True,
    excludes_holidays=False,
    # Reg F 1006.14(b)(2)(i)(A): a call when 7 were already placed to this person about this
    # debt in the 7 consecutive local calendar days ending today would be the eighth.
    caps=(
        FrequencyCap(
            frozenset({ContactChannel.CALL}),
            7,
            7,
            source=_US_CALLS_A,
            per_debt=True,
            calendar_days=True,
        ),
    ),
    after_contact=(
        # Reg F 1006.14(b)(2)(i)(B): no call to the person on the day of a telephone
        # conversation with them about this debt nor on the 6 local days after it.
        AfterContactRule(
            code="after_contact",
            trigger=Trigger.PERSON,
            days=7,
            trigger_channels=frozenset({ContactChannel.CALL}),
            blocked_channels=frozenset({ContactChannel.CALL}),
            description=N_(
                "No call within 7 days after a telephone conversation with the person "
                "about this debt (the conversation's date is the first of the 7)."
            ),
            source=_US_CALLS_B,
            calendar_days=True,
        ),
    ),
    references=ReferenceRule.LOCATE_ONLY,  # Reg F 1006.10
    third_party_rule=N_("Third parties may only be asked for location information."),
    third_party_source=_US_LOCATION,
    visits_allowed=True,
    consent_required=False,
    vulnerable_flags=frozenset(),
    dispute_is_hard=True,  # FDCPA §809(b)
    citations={
        "hours": _US_HOURS,
        "attorney": "12 CFR 1006.6(b)(2): no communication with a consumer known to be "
        "represented by an attorney about the debt",
        "cease_contact": "12 CFR 1006.6(c)(1): stop communicating once the consumer asks in "
        "writing to cease or refuses to pay",
        "dispute": "15 U.S.C. 1692g(b) (FDCPA §809(b)); 12 CFR 1006.34(c)(3): cease collection "
        "of a disputed debt until verification is mailed",
        "channel_opted_out": "12 CFR 1006.14(h)(1): no communication through a medium the "
        "person asked the collector not to use",
    },
    prohibitions=(
        N_("An opt-out notice in every electronic message (12 CFR 1006.6(e))."),
        N_("No suit or threat of suit on time-barred debt (12 CFR 1006.26(b))."),
        N_("No contact with the consumer when represented by an attorney (12 CFR 1006.6(b)(2))."),
        N_("Each third party contacted once for location only (12 CFR 1006.10(b)(3))."),
    ),
    debtor_script=(
        N_(
            "Give your name and say you are a debt collector attempting to collect a debt and that "
            "any information obtained will be used for that purpose (15 U.S.C. 1692e(11)); include "
            "an opt-out notice in electronic messages."
        )
    ),
    guarantor_script=(
        N_(
            "A co-signer or guarantor is a consumer for this debt: the same disclosures and limits "
            "as the debtor."
        )
    ),
    reference_script=(
        N_(
            "Identify yourself by name and say you are confirming or correcting location "
            "information about the consumer; name your employer only if asked; never say the "
            "consumer owes a debt; contact each person once (12 CFR 1006.10)."
        )
    ),
)

PACKS: Mapping[str, RulePack] = {pack.country: pack for pack in (MX, CO, PE, CL, BR, US)}


# --- Overrides ---------------------------------------------------------------------------
OVERRIDE_KEYS = frozenset(
    {
        "hours",
        "excluded_weekdays",
        "exclude_holidays",
        "excluded_dates",
        "caps",
        "visits_allowed",
        "consent_required",
    }
)


def pack_for(country: str, overrides: Mapping[str, Any] | None = None) -> RulePack:
    """The country's pack, made stricter by an operator's ``overrides``.

    Accepted keys (each may only tighten the pack; anything looser raises ValueError):

    - ``hours``: ``{"start": "08:00", "end": "21:00"}`` for every day (met with each day's
      window), or per weekday ``{"saturday": {"start": …, "end": …} | null, …}``;
    - ``excluded_weekdays``: ``["saturday", …]``; ``exclude_holidays``: ``true``;
    - ``excluded_dates``: ``["2026-12-24", …]``;
    - ``caps``: ``[{"channels": ["call"], "period_days": 7, "limit": 3,
      "min_days_between": 0}]``, each at most the law's cap;
    - ``visits_allowed``: ``false``; ``consent_required``: ``true``.
    """
    pack = PACKS.get(country.upper()) if isinstance(country, str) else None
    if pack is None:
        raise ValueError(f"no rule pack for country '{country}'; known: {', '.join(PACKS)}")
    if not overrides:
        return pack
    if not isinstance(overrides, Mapping):
        raise ValueError("overrides must be a mapping of setting to value")
    unknown = sorted(set(overrides) - OVERRIDE_KEYS)
    if unknown:
        raise ValueError(
            f"unknown override '{unknown[0]}'; known: {', '.join(sorted(OVERRIDE_KEYS))}"
        )
    stricter = pack
    if "hours" in overrides:
        stricter = replace(stricter, hours=_narrower_hours(pack, overrides["hours"]))
    if "excluded_weekdays" in overrides:
        closed = {
            _weekday(name) for name in _listed(overrides["excluded_weekdays"], "excluded_weekdays")
        }
        stricter = replace(
            stricter,
            hours=tuple(None if i in closed else w for i, w in enumerate(stricter.hours)),
        )
    if "exclude_holidays" in overrides:
        value = _flag(overrides["exclude_holidays"], "exclude_holidays")
        if pack.excludes_holidays and not value:
            raise ValueError(f"exclude_holidays: the law of {pack.country} excludes holidays")
        stricter = replace(stricter, excludes_holidays=value)
    if "excluded_dates" in overrides:
        stricter = replace(
            stricter,
            excluded_dates=frozenset(
                _date(v) for v in _listed(overrides["excluded_dates"], "excluded_dates")
            ),
        )
    if "caps" in overrides:
        extra = tuple(
            _cap(pack, raw, i) for i, raw in enumerate(_listed(overrides["caps"], "caps"))
        )
        stricter = replace(stricter, caps=pack.caps + extra)
    if "visits_allowed" in overrides:
        value = _flag(overrides["visits_allowed"], "visits_allowed")
        if value and not pack.visits_allowed:
            raise ValueError(f"visits_allowed: the law of {pack.country} prohibits visits")
        stricter = replace(stricter, visits_allowed=value)
    if "consent_required" in overrides:
        value = _flag(overrides["consent_required"], "consent_required")
        if pack.consent_required and not value:
            raise ValueError(f"consent_required: the law of {pack.country} requires consent")
        stricter = replace(stricter, consent_required=value)
    return replace(stricter, version=f"{pack.version}+{_digest(overrides)}")


def _digest(overrides: Mapping[str, Any]) -> str:
    canonical = json.dumps(overrides, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _listed(value: Any, name: str) -> Iterable[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name}: must be a list")
    return list(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false")
    return value


def _weekday(name: Any) -> int:
    if not isinstance(name, str) or name.lower() not in WEEKDAYS:
        raise ValueError(f"'{name}' is not a weekday; use one of {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(name.lower())


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"excluded_dates: '{value}' is not a date as YYYY-MM-DD") from exc


def _window(value: Any, name: str) -> HourWindow:
    if isinstance(value, Mapping) and set(value) == {"start", "end"}:
        start, end = value["start"], value["end"]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        start, end = value
    else:
        raise ValueError(f"{name}: give {{'start': 'HH:MM', 'end': 'HH:MM'}}")
    try:
        return HourWindow.parse(start, end)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _narrower_hours(pack: RulePack, value: Any) -> tuple[HourWindow | None, ...]:
    if not isinstance(value, Mapping):
        raise ValueError("hours: give {'start', 'end'} or a window per weekday")
    if set(value) == {"start", "end"}:
        # One window for every day, met with each day's own window; it may not reach past
        # the law's earliest start or latest end on any day.
        window = _window(value, "hours")
        open_days = [w for w in pack.hours if w is not None]
        earliest = min(w.start for w in open_days)
        latest = max(w.last for w in open_days)
        if window.start < earliest or window.last > latest:
            raise ValueError(
                f"hours: {window.label} is looser than the law of {pack.country}, which allows "
                f"{hhmm(earliest)}–{hhmm(latest)} at the widest (end excluded)"
            )
        result: list[HourWindow | None] = []
        for law in pack.hours:
            if law is None:
                result.append(None)
                continue
            start, end = max(law.start, window.start), min(law.last, window.last)
            result.append(HourWindow(start, end) if start < end else None)
        return tuple(result)
    per_day = list(pack.hours)
    for name, raw in value.items():
        day = _weekday(name)
        law = pack.hours[day]
        if raw is None:
            per_day[day] = None
            continue
        window = _window(raw, f"hours.{name}")
        if law is None:
            raise ValueError(f"hours.{name}: the law of {pack.country} allows no contact that day")
        if not window.within(law):
            raise ValueError(
                f"hours.{name}: {window.label} is looser than the law of {pack.country} "
                f"({law.label})"
            )
        per_day[day] = window
    return tuple(per_day)


def _cap(pack: RulePack, raw: Any, index: int) -> FrequencyCap:
    name = f"caps[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name}: give channels, period_days and limit")
    unknown = sorted(set(raw) - {"channels", "period_days", "limit", "min_days_between"})
    if unknown:
        raise ValueError(f"{name}: unknown key '{unknown[0]}'")
    try:
        channels = frozenset(
            ContactChannel(c) for c in _listed(raw.get("channels"), f"{name}.channels")
        )
    except ValueError as exc:
        raise ValueError(f"{name}.channels: {exc}") from exc
    numbers = {}
    for key, default in (("period_days", None), ("limit", None), ("min_days_between", 0)):
        number = raw.get(key, default)
        if not isinstance(number, int) or isinstance(number, bool):
            raise ValueError(f"{name}.{key}: must be a whole number")
        numbers[key] = number
    try:
        cap = FrequencyCap(
            channels,
            numbers["period_days"],
            numbers["limit"],
            numbers["min_days_between"],
            source=OPERATOR_SOURCE,
        )
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    for channel in sorted(channels):
        law = pack.law_cap(channel, cap.period_days)
        if law is not None and cap.limit > law:
            raise ValueError(
                f"{name}: {cap.limit} {channel} contacts in {cap.period_days} day(s) is looser "
                f"than the law of {pack.country} ({law})"
            )
    return cap
