"""Collection strategies (``app.domain.strategies``): the document's validation, entry by
entry and against each country's law, the default, and the rules read from a document."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.domain.contact_check import RESULT_CODES, ContactChannel, StrategyLimits, pack_for
from app.domain.errors import InvalidInput
from app.domain.identity import Country
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import (
    DAY,
    DEFAULT,
    WEEK,
    ChannelCaps,
    EscalationRule,
    PlanLimits,
    PlanType,
    PromiseTerms,
    StrategyDocument,
    approver_for,
    check_entry,
    check_law,
    default_for,
    escalation_rule,
    limits_for,
    plan_limits,
    promise_terms,
    validate_document,
    with_entries,
)
from app.schemas.strategies import StrategyWrite
from app.services.strategies import document_from_json, document_to_json, entry_from_write

COUNTRIES = [c.value for c in Country]


def entry(**overrides: Any) -> dict[str, Any]:
    """A valid stage entry in every country (one call a day and a week is within every law)."""
    base: dict[str, Any] = {
        "channels": ["call", "sms"],
        "caps": {"call": {"per_day": 1, "per_week": 1}},
        "visits_allowed": False,
        "plans": {
            "settlement": {
                "max_discount_pct": "40",
                "max_installments": 6,
                "min_down_payment_pct": "20",
                "max_term_extension_months": 0,
            }
        },
        "approvals": {"collector_up_to": "100", "team_lead_up_to": "500"},
        "escalation": {"broken_promises": 2, "refusal_codes": ["RPC_REFUSE"]},
        "promises": {"grace_days": 3, "tolerance_pct": "5"},
        "priority_weight": "50",
    }
    return base | overrides


def body(stage: str = "early", **overrides: Any) -> dict[str, Any]:
    return {"stages": {stage: entry(**overrides)}}


def settlement(**overrides: Any) -> dict[str, Any]:
    plan = copy.deepcopy(entry()["plans"]["settlement"]) | overrides
    return {"settlement": plan}


def accept(raw: dict[str, Any], country: str = "MX") -> StrategyDocument:
    """A request's document as the API takes it: its shape and ranges by the schema, then the
    entries given, as the domain's dataclasses, checked with the country's law."""
    write = StrategyWrite.model_validate(raw)
    entries = {
        stage: entry_from_write(given)
        for stage in Stage
        if (given := getattr(write.stages, stage.value)) is not None
    }
    return validate_document(entries, country)


def refused(raw: dict[str, Any], country: str = "MX") -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        accept(raw, country)
    return caught.value


def law_caps(country: str) -> list[tuple[ContactChannel, int | None, int | None]]:
    pack = pack_for(country)
    return [(c, pack.law_cap(c, DAY), pack.law_cap(c, WEEK)) for c in ContactChannel]


class TestValidDocuments:
    def test_an_entry_is_read_with_decimals_kept_to_the_cent(self):
        document = accept(body(), "MX")
        early = document[Stage.EARLY]
        assert early.channels == {ContactChannel.CALL, ContactChannel.SMS}
        assert early.caps == {ContactChannel.CALL: ChannelCaps(1, 1)}
        assert early.plans == {
            PlanType.SETTLEMENT: PlanLimits(Decimal("40.00"), 6, Decimal("20.00"), 0)
        }
        assert early.approvals.team_lead_up_to == Decimal("500.00")
        assert early.priority_weight == Decimal("50.00")
        assert str(early.promises.tolerance_pct) == "5.00"

    @pytest.mark.parametrize("country", COUNTRIES)
    def test_stages_left_out_take_the_countrys_default_entry(self, country):
        document = accept(body("late"), country)
        assert document[Stage.LATE] != default_for(country)[Stage.LATE]
        for stage in Stage:
            if stage is not Stage.LATE:
                assert document[stage] == default_for(country)[stage]

    def test_an_empty_document_is_the_default(self):
        assert accept({"stages": {}}, "MX") == DEFAULT
        assert accept({"stages": {"early": None}}, "MX") == DEFAULT

    def test_caps_and_plans_may_be_left_out_and_null_entries_mean_none(self):
        raw = entry(caps={"sms": None, "call": {}}, plans={"settlement": None})
        del raw["caps"]["call"]
        document = accept({"stages": {"mid": raw}}, "MX")
        assert document[Stage.MID].caps == {}
        assert document[Stage.MID].plans == {}
        minimal = entry()
        del minimal["caps"], minimal["plans"]
        document = accept({"stages": {"mid": minimal}}, "MX")
        assert document[Stage.MID].caps == {} and document[Stage.MID].plans == {}

    def test_a_cap_may_set_one_period_only(self):
        document = accept(body(caps={"call": {"per_week": 1}}), "MX")
        assert document[Stage.EARLY].caps[ContactChannel.CALL] == ChannelCaps(None, 1)

    def test_visits_need_visits_allowed(self):
        raw = body(channels=["visit"], caps={"visit": {"per_day": 1}}, visits_allowed=True)
        assert ContactChannel.VISIT in accept(raw, "MX")[Stage.EARLY].channels

    def test_the_json_form_reads_back_to_the_same_document(self):
        document = accept(body(), "MX")
        stored = document_to_json(document)
        assert document_from_json(stored) == document
        assert stored["stages"]["early"]["approvals"]["collector_up_to"] == "100.00"
        assert list(stored["stages"]) == [s.value for s in Stage]


class TestDefault:
    def test_the_default_is_the_mexican_agencys_policy(self):
        early = DEFAULT[Stage.EARLY]
        assert early.channels == {
            ContactChannel.CALL,
            ContactChannel.SMS,
            ContactChannel.EMAIL,
            ContactChannel.WHATSAPP,
        }
        assert early.caps[ContactChannel.CALL] == ChannelCaps(3, 10)
        assert not early.visits_allowed
        assert ContactChannel.LETTER in DEFAULT[Stage.MID].channels
        assert ContactChannel.VISIT in DEFAULT[Stage.LATE].channels
        assert DEFAULT[Stage.LATE].visits_allowed
        for stage in (Stage.CURRENT, Stage.EARLY, Stage.MID, Stage.LATE):
            assert PlanType.SETTLEMENT not in DEFAULT[stage].plans
        nonaccrual = DEFAULT[Stage.NONACCRUAL].plans[PlanType.SETTLEMENT]
        chargeoff = DEFAULT[Stage.CHARGEOFF].plans[PlanType.SETTLEMENT]
        assert chargeoff.max_discount_pct > nonaccrual.max_discount_pct
        for stage in Stage:
            assert DEFAULT[stage].escalation.broken_promises == 2
            assert DEFAULT[stage].promises == PromiseTerms(3, Decimal("5.00"))

    def test_the_default_for_mexico_is_the_default(self):
        assert default_for("MX") == DEFAULT

    @pytest.mark.parametrize("country", COUNTRIES)
    def test_the_default_passes_validation_in_every_country(self, country):
        document = default_for(country)
        check_law(document, country)
        assert accept(document_to_json(document), country) == document

    @pytest.mark.parametrize("country", COUNTRIES)
    def test_the_default_only_lowers_caps_to_the_law(self, country):
        for stage in Stage:
            mine, base = default_for(country)[stage], DEFAULT[stage]
            assert mine.plans == base.plans and mine.approvals == base.approvals
            if pack_for(country).visits_allowed:
                assert mine.channels == base.channels
                assert mine.visits_allowed == base.visits_allowed
            else:
                assert mine.channels == base.channels - {ContactChannel.VISIT}
                assert not mine.visits_allowed and ContactChannel.VISIT not in mine.caps
            for channel, caps in mine.caps.items():
                day, week = (
                    pack_for(country).law_cap(channel, DAY),
                    pack_for(country).law_cap(channel, WEEK),
                )
                expected_day = min(
                    c for c in (base.caps[channel].per_day, day, week) if c is not None
                )
                assert caps.per_day == expected_day
                assert caps.per_week == min(
                    c for c in (base.caps[channel].per_week, week) if c is not None
                )

    def test_the_defaults_refusal_codes_are_result_codes(self):
        for stage in Stage:
            assert DEFAULT[stage].escalation.refusal_codes <= RESULT_CODES


# (the document, the field named, a part of the message)
# Shapes and ranges the schema refuses: (the document, the field named, a part of the message)
SHAPE_REFUSALS = [
    pytest.param({"stages": {"overdue": entry()}}, "body.stages.overdue", "stage", id="stage"),
    pytest.param({"stage": {}}, "body.stage", "not a field", id="top-level-field"),
    pytest.param(
        body(channels=["call", "fax"]), "body.stages.early.channels.1", "channel", id="channel"
    ),
    pytest.param(
        body(caps={"fax": {"per_day": 1}}), "body.stages.early.caps.fax", "channel", id="cap-ch"
    ),
    pytest.param(
        body(plans={"payday": settlement()["settlement"]}),
        "body.stages.early.plans.payday",
        "plan type",
        id="plan-type",
    ),
    pytest.param(
        body(caps={"call": {"per_day": -1}}),
        "body.stages.early.caps.call.per_day",
        "between",
        id="negative-cap",
    ),
    pytest.param(
        body(caps={"call": {"per_day": True}}),
        "body.stages.early.caps.call.per_day",
        "whole number",
        id="bool-cap",
    ),
    pytest.param(
        body(caps={"call": {"per_hour": 1}}),
        "body.stages.early.caps.call.per_hour",
        "not a field",
        id="cap-period",
    ),
    pytest.param(
        body(plans=settlement(max_discount_pct="100.01")),
        "body.stages.early.plans.settlement.max_discount_pct",
        "between 0 and 100",
        id="discount-over-100",
    ),
    pytest.param(
        body(plans=settlement(max_discount_pct="-1")),
        "body.stages.early.plans.settlement.max_discount_pct",
        "between 0 and 100",
        id="discount-negative",
    ),
    pytest.param(
        body(plans=settlement(min_down_payment_pct="101")),
        "body.stages.early.plans.settlement.min_down_payment_pct",
        "between 0 and 100",
        id="down-payment-over-100",
    ),
    pytest.param(
        body(plans=settlement(min_down_payment_pct="-0.01")),
        "body.stages.early.plans.settlement.min_down_payment_pct",
        "between 0 and 100",
        id="down-payment-negative",
    ),
    pytest.param(
        body(plans=settlement(max_discount_pct="10.005")),
        "body.stages.early.plans.settlement.max_discount_pct",
        "decimal places",
        id="discount-precision",
    ),
    pytest.param(
        body(plans=settlement(max_discount_pct="NaN")),
        "body.stages.early.plans.settlement.max_discount_pct",
        "number",
        id="discount-nan",
    ),
    pytest.param(
        body(plans=settlement(max_installments=0)),
        "body.stages.early.plans.settlement.max_installments",
        "between 1",
        id="no-installments",
    ),
    pytest.param(
        body(plans=settlement(max_term_extension_months=-1)),
        "body.stages.early.plans.settlement.max_term_extension_months",
        "between 0",
        id="negative-extension",
    ),
    pytest.param(
        body(plans={"settlement": {"max_discount_pct": "10"}}),
        "body.stages.early.plans.settlement.max_installments",
        "required",
        id="plan-incomplete",
    ),
    pytest.param(
        body(approvals={"collector_up_to": "-1", "team_lead_up_to": "500"}),
        "body.stages.early.approvals.collector_up_to",
        "between",
        id="negative-threshold",
    ),
    pytest.param(
        body(escalation={"broken_promises": 2, "refusal_codes": ["RPC_REFUSE", "ANGRY"]}),
        "body.stages.early.escalation.refusal_codes.1",
        "result code",
        id="refusal-code",
    ),
    pytest.param(
        body(escalation={"broken_promises": 0, "refusal_codes": []}),
        "body.stages.early.escalation.broken_promises",
        "between 1",
        id="zero-broken-promises",
    ),
    pytest.param(
        body(escalation={"refusal_codes": []}),
        "body.stages.early.escalation.broken_promises",
        "required",
        id="broken-promises-left-out",
    ),
    pytest.param(
        body(promises={"grace_days": 31, "tolerance_pct": "5"}),
        "body.stages.early.promises.grace_days",
        "between 0 and 30",
        id="grace-days",
    ),
    pytest.param(
        body(promises={"grace_days": 3, "tolerance_pct": "50.01"}),
        "body.stages.early.promises.tolerance_pct",
        "between 0 and 50",
        id="tolerance",
    ),
    pytest.param(
        body(priority_weight="100.5"),
        "body.stages.early.priority_weight",
        "between 0 and 100",
        id="priority-weight",
    ),
    pytest.param(
        body(colour="red"), "body.stages.early.colour", "not a field", id="unknown-entry-field"
    ),
    pytest.param(
        {"stages": {"early": {"channels": ["call"]}}},
        "body.stages.early.visits_allowed",
        "required",
        id="entry-incomplete",
    ),
    pytest.param(
        {"stages": {"early": ["call"]}}, "body.stages.early", "object", id="entry-not-object"
    ),
]

# Fields that contradict each other, refused by the domain.
RULE_REFUSALS = [
    pytest.param(
        body(caps={"call": {"per_day": 1, "per_week": 0}}),
        "stages.early.caps.call.per_day",
        "per_week",
        id="day-over-week",
    ),
    pytest.param(
        body(approvals={"collector_up_to": "500.01", "team_lead_up_to": "500"}),
        "stages.early.approvals.team_lead_up_to",
        "inverted",
        id="thresholds-inverted",
    ),
    pytest.param(
        body(caps={"call": {"per_day": 1}, "email": {"per_day": 1}}),
        "stages.early.caps.email",
        "not one of the stage's channels",
        id="capped-channel-not-allowed",
    ),
    pytest.param(
        body(channels=["call", "visit"], visits_allowed=False),
        "stages.early.channels",
        "visits_allowed",
        id="visit-without-visits",
    ),
]


class TestRefusals:
    @pytest.mark.parametrize(("raw", "field", "message"), RULE_REFUSALS)
    def test_each_broken_rule_names_its_field(self, raw, field, message):
        error = refused(raw)
        assert error.field == field
        assert message in error.message
        assert error.field_errors == [(field, error.text)]

    @pytest.mark.parametrize(("raw", "field", "_message"), SHAPE_REFUSALS)
    def test_each_malformed_field_is_refused_by_the_schema_at_its_path(self, raw, field, _message):
        with pytest.raises(ValidationError) as caught:
            StrategyWrite.model_validate(raw)
        paths = {".".join(("body", *map(str, e["loc"]))) for e in caught.value.errors()}
        assert field in paths

    @pytest.mark.parametrize("country", COUNTRIES)
    def test_a_cap_looser_than_the_law_is_refused_and_names_the_laws_value(self, country):
        visits = pack_for(country).visits_allowed
        for channel, day, week in law_caps(country):
            if channel is ContactChannel.VISIT and not visits:
                continue
            others: dict[str, Any] = {"visits_allowed": visits, "channels": [channel.value]}
            if day is not None:
                error = refused(body(caps={channel.value: {"per_day": day + 1}}, **others), country)
                assert error.field == f"stages.early.caps.{channel.value}.per_day"
                assert f"at most {day} a day" in error.message
                assert error.params["law_cap"] == day
                accept(body(caps={channel.value: {"per_day": day}}, **others), country)
            if week is not None:
                error = refused(
                    body(caps={channel.value: {"per_week": week + 1}}, **others), country
                )
                assert error.field == f"stages.early.caps.{channel.value}.per_week"
                assert f"at most {week} a week" in error.message
                assert error.params["law_cap"] == week
                accept(body(caps={channel.value: {"per_week": week}}, **others), country)
                if day is None:
                    # A day that allows more than the law's whole week is looser too.
                    error = refused(
                        body(caps={channel.value: {"per_day": week + 1}}, **others), country
                    )
                    assert error.field.endswith(".per_day")
                    assert f"at most {week} a week" in error.message

    def test_mexican_law_sets_no_caps_so_any_cap_is_fine_there(self):
        assert all(day is None and week is None for _, day, week in law_caps("MX"))
        accept(body(caps={"call": {"per_day": 50, "per_week": 300}}), "MX")

    def test_the_laws_caps_as_the_packs_state_them(self):
        # Chile: one call or visit a week, other media twice; the US: 7 calls in 7 days.
        # Colombia's limits are per contact (no second one that day after a direct contact),
        # not counts, so no cap can be looser than them.
        assert pack_for("CL").law_cap(ContactChannel.CALL, WEEK) == 1
        assert pack_for("CL").law_cap(ContactChannel.SMS, WEEK) == 2
        assert pack_for("US").law_cap(ContactChannel.CALL, WEEK) == 7
        assert all(day is None and week is None for _, day, week in law_caps("CO"))

    @pytest.mark.parametrize("country", ["CL", "US"])
    def test_the_mexican_call_caps_are_too_loose_for_chile_and_the_us(self, country):
        raw = body(caps={"call": {"per_day": 3, "per_week": 10}})
        accept(raw, "MX")
        error = refused(raw, country)
        assert error.field.startswith("stages.early.caps.call.per_")
        assert "looser than the law" in error.message

    def test_field_visits_are_refused_where_the_law_forbids_them(self):
        raw = body(channels=["call", "visit"], visits_allowed=True)
        accept(raw, "MX")
        error = refused(raw, "CO")
        assert error.field == "stages.early.visits_allowed"
        assert "forbids field visits" in error.message
        assert refused(body(visits_allowed=True), "CO").field.endswith(".visits_allowed")
        accept(body(visits_allowed=False), "CO")

    def test_the_colombian_default_has_no_visits(self):
        for stage in Stage:
            assert not default_for("CO")[stage].visits_allowed
            assert ContactChannel.VISIT not in default_for("CO")[stage].channels
        assert DEFAULT[Stage.LATE].visits_allowed

    def test_the_law_is_not_checked_when_reading_a_stored_document(self):
        raw = body(caps={"call": {"per_day": 3, "per_week": 10}})
        stored = document_to_json(accept(raw, "MX"))
        refused(raw, "CL")
        assert document_from_json(stored)[Stage.EARLY].caps[ContactChannel.CALL] == ChannelCaps(
            3, 10
        )


def _document(**stage_overrides: Any) -> StrategyDocument:
    return accept(body(**stage_overrides), "MX")


class TestEvaluation:
    def test_limits_for_gives_the_contact_rules_the_stages_channels_and_caps(self):
        document = _document(
            channels=["call", "sms", "visit"],
            visits_allowed=True,
            caps={"call": {"per_day": 2, "per_week": 5}, "sms": {"per_week": 3}},
        )
        limits = limits_for(document, Stage.EARLY, 7)
        assert isinstance(limits, StrategyLimits)
        assert limits.allowed_channels == {
            ContactChannel.CALL,
            ContactChannel.SMS,
            ContactChannel.VISIT,
        }
        assert dict(limits.per_day) == {ContactChannel.CALL: 2}
        assert dict(limits.per_week) == {ContactChannel.CALL: 5, ContactChannel.SMS: 3}
        assert limits.visits_allowed is True
        assert limits.version == 7

    def test_limits_for_the_default(self):
        limits = limits_for(DEFAULT, Stage.CURRENT, 0)
        assert ContactChannel.CALL not in (limits.allowed_channels or set())
        assert limits.visits_allowed is False and limits.version == 0

    @pytest.mark.parametrize(("grace", "tolerance"), [(0, "0"), (30, "50"), (3, "2.5")])
    def test_promise_terms_at_their_bounds(self, grace, tolerance):
        document = _document(promises={"grace_days": grace, "tolerance_pct": tolerance})
        assert promise_terms(document, Stage.EARLY) == PromiseTerms(
            grace, Decimal(tolerance).quantize(Decimal("0.01"))
        )
        assert promise_terms(document, Stage.MID) == DEFAULT[Stage.MID].promises

    @pytest.mark.parametrize("broken", [1, 99, None])
    def test_escalation_rule_at_its_bounds(self, broken):
        document = _document(
            escalation={"broken_promises": broken, "refusal_codes": ["RPC_REFUSE", "RPC_DISPUTE"]}
        )
        assert escalation_rule(document, Stage.EARLY) == EscalationRule(
            broken, frozenset({"RPC_REFUSE", "RPC_DISPUTE"})
        )
        with pytest.raises(ValidationError):
            accept(body(escalation={"broken_promises": 100, "refusal_codes": []}))

    def test_plan_limits_of_offered_and_not_offered_plans(self):
        document = _document()
        assert plan_limits(document, Stage.EARLY, PlanType.SETTLEMENT) == PlanLimits(
            Decimal("40.00"), 6, Decimal("20.00"), 0
        )
        assert plan_limits(document, Stage.EARLY, PlanType.RESTRUCTURING) is None
        assert plan_limits(DEFAULT, Stage.LATE, PlanType.SETTLEMENT) is None
        assert plan_limits(DEFAULT, Stage.NONACCRUAL, PlanType.SETTLEMENT) is not None

    @pytest.mark.parametrize(
        ("discount", "role"),
        [
            ("0", Role.COLLECTOR),
            ("100", Role.COLLECTOR),
            ("100.01", Role.TEAM_LEAD),
            ("500", Role.TEAM_LEAD),
            ("500.01", Role.MANAGER),
            ("1000000", Role.MANAGER),
        ],
    )
    def test_approver_for_each_side_of_each_threshold(self, discount, role):
        assert approver_for(_document(), Stage.EARLY, Decimal(discount)) is role

    def test_equal_thresholds_skip_the_team_lead(self):
        document = _document(approvals={"collector_up_to": "200", "team_lead_up_to": "200"})
        assert approver_for(document, Stage.EARLY, Decimal("200")) is Role.COLLECTOR
        assert approver_for(document, Stage.EARLY, Decimal("200.01")) is Role.MANAGER

    def test_any_discount_while_current_needs_a_manager_by_default(self):
        assert approver_for(DEFAULT, Stage.CURRENT, Decimal("0")) is Role.COLLECTOR
        assert approver_for(DEFAULT, Stage.CURRENT, Decimal("0.01")) is Role.MANAGER

    def test_a_negative_discount_is_a_mistake(self):
        with pytest.raises(ValueError, match="negative"):
            approver_for(DEFAULT, Stage.EARLY, Decimal("-1"))


# --- property: an accepted document is never looser than the law -----------------------------

caps_values = st.one_of(st.none(), st.integers(min_value=0, max_value=12))
cap_tables = st.dictionaries(
    st.sampled_from([c.value for c in ContactChannel]),
    st.fixed_dictionaries({"per_day": caps_values, "per_week": caps_values}),
    max_size=len(ContactChannel),
)


def _entry_for(caps: dict[str, Any], visits: bool) -> dict[str, Any]:
    if not visits:
        caps = {k: v for k, v in caps.items() if k != ContactChannel.VISIT.value}
    channels = [c.value for c in ContactChannel if visits or c is not ContactChannel.VISIT]
    return entry(channels=channels, visits_allowed=visits, caps=caps)


stage_entries = st.builds(_entry_for, cap_tables, st.booleans())
documents = st.dictionaries(st.sampled_from([s.value for s in Stage]), stage_entries, max_size=3)


@settings(max_examples=300, deadline=None)
@given(stages=documents, country=st.sampled_from(COUNTRIES))
def test_an_accepted_documents_caps_never_exceed_the_law(stages, country):
    try:
        document = accept({"stages": stages}, country)
    except InvalidInput as error:
        assert error.field.startswith("stages.")
        return
    assert pack_for(country).visits_allowed or not any(
        e.visits_allowed for e in document.stages.values()
    )
    pack = pack_for(country)
    for entry_ in document.stages.values():
        for channel, caps in entry_.caps.items():
            day, week = pack.law_cap(channel, DAY), pack.law_cap(channel, WEEK)
            if caps.per_day is not None:
                assert day is None or caps.per_day <= day
                assert week is None or caps.per_day <= week
            if caps.per_week is not None:
                assert week is None or caps.per_week <= week
            if caps.per_day is not None and caps.per_week is not None:
                assert caps.per_day <= caps.per_week
    assert document_from_json(document_to_json(document)) == document


# --- property: the consistency rules over the dataclasses themselves --------------------------

small = st.one_of(st.none(), st.integers(min_value=0, max_value=5))


@settings(max_examples=300, deadline=None)
@given(
    channels=st.frozensets(st.sampled_from(list(ContactChannel))),
    visits=st.booleans(),
    caps=st.dictionaries(st.sampled_from(list(ContactChannel)), st.tuples(small, small)),
    collector=st.integers(min_value=0, max_value=3),
    lead=st.integers(min_value=0, max_value=3),
)
def test_an_entry_is_refused_exactly_when_its_fields_contradict_each_other(
    channels, visits, caps, collector, lead
):
    base = DEFAULT[Stage.EARLY]
    entry_ = replace(
        base,
        channels=channels,
        visits_allowed=visits,
        caps={c: ChannelCaps(day, week) for c, (day, week) in caps.items()},
        approvals=replace(
            base.approvals, collector_up_to=Decimal(collector), team_lead_up_to=Decimal(lead)
        ),
    )
    contradictions = (
        (ContactChannel.VISIT in channels and not visits)
        or any(c not in channels for c in caps)
        or any(d is not None and w is not None and d > w for d, w in caps.values())
        or lead < collector
    )
    if contradictions:
        with pytest.raises(InvalidInput) as caught:
            check_entry(entry_, "stages.early")
        assert caught.value.field.startswith("stages.early.")
    else:
        check_entry(entry_, "stages.early")


@given(stages=st.frozensets(st.sampled_from(list(Stage))))
def test_with_entries_replaces_the_stages_given_and_keeps_the_others(stages):
    replacement = DEFAULT[Stage.CHARGEOFF]
    document = with_entries(DEFAULT, {stage: replacement for stage in stages})
    for stage in Stage:
        assert document[stage] == (replacement if stage in stages else DEFAULT[stage])


def test_a_cap_entry_capping_no_period_is_no_cap():
    entry_ = replace(DEFAULT[Stage.EARLY], caps={ContactChannel.CALL: ChannelCaps(None, None)})
    assert with_entries(DEFAULT, {Stage.EARLY: entry_})[Stage.EARLY].caps == {}
