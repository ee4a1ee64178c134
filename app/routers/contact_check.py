"""The contact check: may this person be contacted now, by this channel (POST
/accounts/{id}/contact-check), and the country rule packs it weighs (GET /compliance/packs)."""

from __future__ import annotations

import uuid
from datetime import UTC

from fastapi import APIRouter

from app.deps import LanguageDep, PrincipalDep, SessionDep, SettingsDep
from app.domain.contact_check import PACKS, ContactChannel, DebtorFlag, Party, RulePack, pack_for
from app.domain.contact_check_packs import WEEKDAYS, HourWindow, hhmm
from app.i18n import Language, translate
from app.problems import problem_responses
from app.schemas.contact_check import (
    AfterContactRuleRead,
    ContactCheckRead,
    ContactCheckRequest,
    FrequencyCapRead,
    HourWindowRead,
    ReasonRead,
    RulePackRead,
    ScriptsRead,
    WeeklyHours,
)
from app.services import contact_check as service

router = APIRouter(tags=["compliance"])


def _channels(channels: frozenset[ContactChannel] | None) -> list[ContactChannel] | None:
    return None if channels is None else [c for c in ContactChannel if c in channels]


def _window(window: HourWindow | None) -> HourWindowRead | None:
    return (
        None
        if window is None
        else HourWindowRead(
            start=hhmm(window.start), end=hhmm(window.end), end_included=window.end_included
        )
    )


def _read(pack: RulePack, language: Language) -> RulePackRead:
    return RulePackRead(
        country=pack.country,
        version=pack.version,
        sources=list(pack.sources),
        citations=dict(pack.citations),
        hours=WeeklyHours(
            **{day: _window(window) for day, window in zip(WEEKDAYS, pack.hours, strict=True)}
        ),
        hours_in_law=pack.hours_in_law,
        untimed_channels=_channels(pack.untimed_channels) or [],
        excluded_weekdays=[
            day for day, window in zip(WEEKDAYS, pack.hours, strict=True) if window is None
        ],
        excludes_holidays=pack.excludes_holidays,
        excluded_dates=sorted(pack.excluded_dates),
        caps=[
            FrequencyCapRead(
                channels=_channels(cap.channels) or [],
                period_days=cap.period_days,
                limit=cap.limit,
                min_days_between=cap.min_days_between,
                source=cap.source,
                per_debt=cap.per_debt,
                calendar_days=cap.calendar_days,
            )
            for cap in pack.caps
        ],
        after_contact=[
            AfterContactRuleRead(
                code=rule.code,
                trigger=rule.trigger,
                trigger_channels=_channels(rule.trigger_channels),
                blocked_channels=_channels(rule.blocked_channels),
                other_channels_only=rule.other_channels_only,
                days=rule.days,
                description=translate(rule.description, language),
                source=rule.source,
                calendar_days=rule.calendar_days,
            )
            for rule in pack.after_contact
        ],
        references=pack.references,
        third_party_rule=" ".join(
            part
            for part in (translate(pack.third_party_rule, language), pack.third_party_source)
            if part
        ),
        visits_allowed=pack.visits_allowed,
        consent_required=pack.consent_required,
        vulnerable_flags=sorted(pack.vulnerable_flags),
        dispute_stops_collection=pack.dispute_is_hard,
        prohibitions=[translate(p, language) for p in pack.prohibitions],
        scripts=ScriptsRead(
            debtor=translate(pack.debtor_script, language),
            guarantor=translate(pack.guarantor_script, language),
            reference=translate(pack.reference_script, language),
        ),
    )


@router.get(
    "/compliance/packs",
    summary="List the country rule packs",
    response_model=list[RulePackRead],
    responses=problem_responses(401, 403),
)
async def list_compliance_packs(
    principal: PrincipalDep, settings: SettingsDep, language: LanguageDep
) -> list[RulePackRead]:
    """The contact law of each country (MX, CO, PE, CL, BR, US) as the pre-contact check
    applies it: hours per weekday in the contact point's local time, excluded days, frequency
    caps, after-contact rules, who may be contacted and told what, prohibitions and their
    legal sources. Includes the operator's overrides, which only make a pack stricter. Any
    authenticated staff user or partner system may read it."""
    return [
        _read(pack_for(country, settings.compliance_overrides.get(country)), language)
        for country in PACKS
    ]


@router.post(
    "/accounts/{account_id}/contact-check",
    summary="May this person be contacted now, by this channel?",
    response_model=ContactCheckRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def check_contact(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    body: ContactCheckRequest,
    language: LanguageDep,
) -> ContactCheckRead:
    """Weighs the account's status, the debtor's flags and consents, the country's contact
    law in the contact point's local time (hours, days, holidays, frequency, after-contact
    rules), the partner's strategy for the stage, and the debtor's contacts over all their
    accounts. Nothing is recorded."""
    context, decision = await service.check_account_contact(
        session,
        settings,
        principal,
        account_id,
        channel=ContactChannel(body.channel),
        party=Party(body.party) if body.party else None,
        contact_point_id=body.contact_point_id,
        at=body.at,
        party_flags=frozenset(DebtorFlag(flag) for flag in body.party_flags),
    )
    return ContactCheckRead(
        allowed=decision.allowed,
        reasons=[
            ReasonRead(
                code=r.code,
                message=r.text.render(language),
                hard=r.hard,
                basis=r.basis,
                citation=r.citation,
            )
            for r in decision.reasons
        ],
        next_allowed_at=decision.next_allowed_at,
        script=translate(decision.script, language),
        time_zone=decision.time_zone or context.request.time_zone,
        time_zones=list(context.zones or (context.request.time_zone,)),
        pack_version=decision.pack_version,
        strategy_version=context.strategy_version,
        experiment_arm_id=context.experiment_arm_id,
        evaluated_at=context.request.at.astimezone(UTC),
    )
