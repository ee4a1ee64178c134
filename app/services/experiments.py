"""Champion/challenger strategy experiments: run them, resolve an account's arm, report.

**The one place an account's strategy is resolved.** :func:`strategy_for_account` answers
the strategy an account works under: the partner's version in force (the champion), or,
while an experiment runs on the account's stage, its arm's (the champion's document with the
stage replaced by the challenger's entry). The contact check (caps, channels), plan quotes
and proposals (plan limits, approvals), promises and escalations taken in an interaction
(promise terms, escalation rules) all read it, and record the arm they ran under
(``experiment_arm_id`` on interactions, promises, plans and payments). Contact checks are
not stored (nothing is recorded by a check); the check's answer names the arm instead, and
the interaction that follows records it.

The recorded ``strategy_version`` stays the champion's version the arm was built on; the
arm id says which entry applied to the stage.

Stopping an experiment returns every account to the champion at once (only ``running``
experiments are read); promoting a challenger stores the champion's document with the stage
replaced as the partner's next strategy version, and ends the experiment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.errors import InvalidInput, NotFound
from app.domain.experiments import (
    BUCKET_SQL,
    ArmRange,
    ExperimentAlreadyRunning,
    ExperimentEnded,
    ExperimentStatus,
    MeanEstimate,
    assign,
    mean_interval,
    share_ranges,
    wilson,
)
from app.domain.money import minor_unit
from app.domain.reports import ratio
from app.domain.stages import Stage
from app.domain.strategies import StrategyDocument, validate_document, with_entries
from app.i18n import N_
from app.models.account import Account
from app.models.experiment import ExperimentArm, StrategyExperiment
from app.models.partner import Partner
from app.schemas.experiments import ExperimentCreate
from app.security import Principal
from app.services import audit, strategies
from app.services.history import STAGE, stage_on
from app.services.partners import readable_partners

CHAMPION = "champion"

# --- resolving an account's strategy ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveStrategy:
    """The strategy an account works under: the champion's ``version`` and, inside a running
    experiment, its arm (whose entry for the stage ``document`` already holds)."""

    version: int
    document: StrategyDocument
    experiment_id: uuid.UUID | None = None
    arm_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RunningExperiment:
    id: uuid.UUID
    stage: Stage
    ranges: tuple[ArmRange, ...]
    # The challengers' stored entries for the stage (JSON); the champion has none.
    entries: Mapping[uuid.UUID, dict[str, Any]]

    def arm_of(self, account_id: uuid.UUID) -> uuid.UUID:
        return assign(self.id, account_id, self.ranges)

    def document_for(self, arm_id: uuid.UUID, champion: StrategyDocument) -> StrategyDocument:
        entry = self.entries.get(arm_id)
        if entry is None:
            return champion
        return with_entries(champion, {self.stage: strategies.entry_from_json(entry)})


async def running_experiments(
    session: AsyncSession, keys: Iterable[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], RunningExperiment]:
    """The running experiment of each (partner, stage) that has one: one statement."""
    wanted = set(keys)
    if not wanted:
        return {}
    partners = {partner for partner, _ in wanted}
    rows = (
        await session.execute(
            select(StrategyExperiment, ExperimentArm)
            .join(ExperimentArm, col(ExperimentArm.experiment_id) == col(StrategyExperiment.id))
            .where(
                col(StrategyExperiment.partner_id).in_(partners),
                col(StrategyExperiment.status) == ExperimentStatus.RUNNING,
            )
            .order_by(col(StrategyExperiment.id), col(ExperimentArm.position))
        )
    ).all()
    grouped: dict[uuid.UUID, tuple[StrategyExperiment, list[ExperimentArm]]] = {}
    for experiment, arm in rows:
        grouped.setdefault(experiment.id, (experiment, []))[1].append(arm)
    found: dict[tuple[uuid.UUID, str], RunningExperiment] = {}
    for experiment, arms in grouped.values():
        key = (experiment.partner_id, experiment.stage)
        if key in wanted:
            found[key] = RunningExperiment(
                id=experiment.id,
                stage=Stage(experiment.stage),
                ranges=tuple(ArmRange(a.id, a.bucket_low, a.bucket_high) for a in arms),
                entries={a.id: a.document for a in arms if a.document is not None},
            )
    return found


async def strategy_for_account(session: AsyncSession, account: Account) -> EffectiveStrategy:
    """The strategy ``account`` works under now: its arm's while an experiment runs on its
    partner's strategy for its stage, else the version in force."""
    return (await strategies_for_accounts(session, [account]))[account.id]


async def strategies_for_accounts(
    session: AsyncSession, accounts: Iterable[Account]
) -> dict[uuid.UUID, EffectiveStrategy]:
    """:func:`strategy_for_account` for a batch: a statement per partner for its version in
    force, one for the running experiments, each arm's document parsed once."""
    batch = list(accounts)
    champions = {
        partner: await strategies.current_strategy(session, partner)
        for partner in dict.fromkeys(a.partner_id for a in batch)
    }
    running = await running_experiments(session, {(a.partner_id, a.stage) for a in batch})
    documents: dict[tuple[uuid.UUID, uuid.UUID], StrategyDocument] = {}
    found: dict[uuid.UUID, EffectiveStrategy] = {}
    for account in batch:
        version, champion = champions[account.partner_id]
        experiment = running.get((account.partner_id, account.stage))
        if experiment is None:
            found[account.id] = EffectiveStrategy(version, champion)
            continue
        arm = experiment.arm_of(account.id)
        if (account.partner_id, arm) not in documents:
            documents[account.partner_id, arm] = experiment.document_for(arm, champion)
        found[account.id] = EffectiveStrategy(
            version, documents[account.partner_id, arm], experiment.id, arm
        )
    return found


async def arms_of(
    session: AsyncSession, accounts: Iterable[Account]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each account's arm now (None outside experiments), for a batch: one statement."""
    batch = list(accounts)
    running = await running_experiments(session, {(a.partner_id, a.stage) for a in batch})
    found: dict[uuid.UUID, uuid.UUID | None] = {}
    for account in batch:
        experiment = running.get((account.partner_id, account.stage))
        found[account.id] = None if experiment is None else experiment.arm_of(account.id)
    return found


# --- managing experiments -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExperimentView:
    experiment: StrategyExperiment
    arms: list[ExperimentArm]


def _readable(principal: Principal) -> Any:
    """Experiments of the partners whose strategy the principal may read."""
    partners = strategies.strategy_readable_partners(principal).with_only_columns(col(Partner.id))
    return select(StrategyExperiment).where(col(StrategyExperiment.partner_id).in_(partners))


async def _arms(session: AsyncSession, experiment_ids: Sequence[uuid.UUID]) -> list[ExperimentArm]:
    rows = await session.scalars(
        select(ExperimentArm)
        .where(col(ExperimentArm.experiment_id).in_(experiment_ids))
        .order_by(col(ExperimentArm.experiment_id), col(ExperimentArm.position))
    )
    return list(rows.all())


def _snapshot(view: ExperimentView) -> dict[str, Any]:
    e = view.experiment
    return {
        "partner_id": e.partner_id,
        "stage": e.stage,
        "name": e.name,
        "status": e.status,
        "arms": [
            {"id": a.id, "name": a.name, "share": str(a.share_pct), "document": a.document}
            for a in view.arms
        ],
        "promoted_arm_id": e.promoted_arm_id,
        "promoted_version": e.promoted_version,
    }


def _challenger_entries(data: ExperimentCreate, partner: Partner) -> list[dict[str, Any]]:
    """Each challenger's entry for the stage, validated as a strategy's (shape, ranges,
    amounts in the partner's currency, the law of its country), in its stored form."""
    entries: list[dict[str, Any]] = []
    stage = data.stage.value
    for index, challenger in enumerate(data.challengers):
        path = f"challengers.{index}.document"
        strategies.check_stage_amounts(challenger.document, partner.currency, path)
        entry = strategies.entry_from_write(challenger.document)
        try:
            document = validate_document({data.stage: entry}, partner.country)
        except InvalidInput as error:
            # The entry is the challenger's document: its fields move under the challenger.
            inner = f"stages.{stage}"
            field = (
                path + error.field.removeprefix(inner) if error.field.startswith(inner) else path
            )
            params = {k: v for k, v in error.params.items() if k != "field"}
            raise InvalidInput(field, error.text, params) from error
        entries.append(strategies.entry_to_json(document[data.stage]))
    return entries


async def create_experiment(
    session: AsyncSession, actor: Principal, partner_id: uuid.UUID, data: ExperimentCreate
) -> ExperimentView:
    """Start an experiment on the partner's strategy for ``data.stage``: the champion and
    the challengers with their shares (adding up to 100 %). One running per stage (409)."""
    partner = await session.scalar(
        readable_partners(actor)
        .where(col(Partner.id) == partner_id)
        .with_for_update(key_share=True)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    ranges = share_ranges([data.champion_share, *(c.share for c in data.challengers)])
    names = [CHAMPION, *(c.name for c in data.challengers)]
    for index, name in enumerate(names[1:]):
        if name.casefold() in {n.casefold() for n in names[: index + 1]}:
            raise InvalidInput(f"challengers.{index}.name", N_("already names another arm"))
    entries = _challenger_entries(data, partner)
    running = await session.scalar(
        select(col(StrategyExperiment.id)).where(
            col(StrategyExperiment.partner_id) == partner.id,
            col(StrategyExperiment.stage) == data.stage.value,
            col(StrategyExperiment.status) == ExperimentStatus.RUNNING,
        )
    )
    if running is not None:
        raise ExperimentAlreadyRunning({"stage": data.stage.value, "experiment_id": running})
    experiment = StrategyExperiment(
        partner_id=partner.id,
        stage=data.stage.value,
        name=data.name,
        status=ExperimentStatus.RUNNING,
        created_by=actor.audit_id,
    )
    session.add(experiment)
    try:
        await session.flush()
    except IntegrityError as error:  # another request started one in between
        raise ExperimentAlreadyRunning({"stage": data.stage.value}) from error
    shares = [data.champion_share, *(c.share for c in data.challengers)]
    arms = [
        ExperimentArm(
            experiment_id=experiment.id,
            partner_id=partner.id,
            position=position,
            name=names[position],
            share_pct=shares[position],
            bucket_low=low,
            bucket_high=high,
            document=None if position == 0 else entries[position - 1],
        )
        for position, (low, high) in enumerate(ranges)
    ]
    session.add_all(arms)
    await session.flush()
    view = ExperimentView(experiment, arms)
    await audit.record(
        session, actor, "experiment.created", "strategy_experiment", experiment.id,
        after=_snapshot(view),
    )  # fmt: skip
    return view


async def list_experiments(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    *,
    status: ExperimentStatus | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[ExperimentView]:
    """The partner's experiments, newest first (``limit + 1`` rows for the cursor)."""
    partner = await session.scalar(
        strategies.strategy_readable_partners(principal).where(col(Partner.id) == partner_id)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    query = _readable(principal).where(col(StrategyExperiment.partner_id) == partner.id)
    if status is not None:
        query = query.where(col(StrategyExperiment.status) == status.value)
    if after is not None:
        query = query.where(col(StrategyExperiment.id) < after)
    rows = list(
        (
            await session.scalars(
                query.order_by(col(StrategyExperiment.id).desc()).limit(limit + 1)
            )
        ).all()
    )
    arms = await _arms(session, [r.id for r in rows])
    return [ExperimentView(r, [a for a in arms if a.experiment_id == r.id]) for r in rows]


async def get_experiment(
    session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, *, lock: bool = False
) -> ExperimentView:
    query = _readable(principal).where(col(StrategyExperiment.id) == experiment_id)
    if lock:
        query = query.with_for_update()
    experiment = await session.scalar(query)
    if experiment is None:
        raise NotFound({"entity": "experiment"})
    return ExperimentView(experiment, await _arms(session, [experiment.id]))


async def _end(
    session: AsyncSession,
    actor: Principal,
    experiment_id: uuid.UUID,
    now: datetime | None,
) -> tuple[ExperimentView, dict[str, Any]]:
    # Writers see the partners they may change (their own for a partner's system).
    partners = readable_partners(actor).with_only_columns(col(Partner.id))
    experiment = await session.scalar(
        select(StrategyExperiment)
        .where(
            col(StrategyExperiment.id) == experiment_id,
            col(StrategyExperiment.partner_id).in_(partners),
        )
        .with_for_update()
    )
    if experiment is None:
        raise NotFound({"entity": "experiment"})
    view = ExperimentView(experiment, await _arms(session, [experiment.id]))
    if experiment.status != ExperimentStatus.RUNNING:
        raise ExperimentEnded({"status": experiment.status})
    return view, _snapshot(view)


def _close(
    experiment: StrategyExperiment, actor: Principal, status: ExperimentStatus, now: datetime | None
) -> None:
    experiment.status = status
    experiment.ended_at = now or datetime.now(UTC)
    experiment.ended_by = actor.audit_id


async def stop_experiment(
    session: AsyncSession,
    actor: Principal,
    experiment_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> ExperimentView:
    """End the experiment without a winner: every account is on the champion again."""
    view, before = await _end(session, actor, experiment_id, now)
    _close(view.experiment, actor, ExperimentStatus.STOPPED, now)
    session.add(view.experiment)
    await session.flush()
    await audit.record(
        session, actor, "experiment.stopped", "strategy_experiment", view.experiment.id,
        before=before, after=_snapshot(view),
    )  # fmt: skip
    return view


async def promote_arm(
    session: AsyncSession,
    actor: Principal,
    experiment_id: uuid.UUID,
    arm_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> ExperimentView:
    """The challenger ``arm_id`` wins: the champion in force with the stage's entry replaced
    by the challenger's becomes the partner's next strategy version (checked against the law
    again: the pack may have become stricter), and the experiment ends."""
    view, before = await _end(session, actor, experiment_id, now)
    experiment = view.experiment
    arm = next((a for a in view.arms if a.id == arm_id), None)
    if arm is None or arm.document is None:
        raise InvalidInput("arm_id", N_("not a challenger of this experiment"))
    partner = await session.scalar(
        select(Partner)
        .where(col(Partner.id) == experiment.partner_id)
        .with_for_update(key_share=True)
    )
    assert partner is not None
    _, champion = await strategies.current_strategy(session, partner.id)
    stage = Stage(experiment.stage)
    merged = with_entries(champion, {stage: strategies.entry_from_json(arm.document)})
    document = validate_document(merged.stages, partner.country)
    stored = await strategies.store_version(session, actor, partner, document)
    _close(experiment, actor, ExperimentStatus.PROMOTED, now)
    experiment.promoted_arm_id = arm.id
    experiment.promoted_version = stored.version
    session.add(experiment)
    await session.flush()
    await audit.record(
        session, actor, "experiment.promoted", "strategy_experiment", experiment.id,
        before=before, after=_snapshot(view),
    )  # fmt: skip
    return view


# --- the report ---------------------------------------------------------------------------

_RPC_CODES = ", ".join(f"'{c}'" for c in sorted(RIGHT_PARTY_CODES))


def _report_sql() -> str:
    position = BUCKET_SQL.format(experiment=":experiment", account="a.id")
    start_stage = stage_on("a.id", ":start_day", "a.stage")
    end_stage = stage_on("c.id", ":end_day", "c.stage")
    return f"""
WITH arms AS (
    SELECT id FROM experiment_arm WHERE experiment_id = :experiment
),
tagged AS (
    SELECT account_id FROM interaction WHERE experiment_arm_id IN (SELECT id FROM arms)
    UNION SELECT account_id FROM promise WHERE experiment_arm_id IN (SELECT id FROM arms)
    UNION SELECT account_id FROM payment_plan WHERE experiment_arm_id IN (SELECT id FROM arms)
    UNION SELECT account_id FROM payment WHERE experiment_arm_id IN (SELECT id FROM arms)
),
cohort AS (
    SELECT a.id, a.stage, r.id AS arm_id
    FROM account a
    JOIN experiment_arm r ON r.experiment_id = :experiment
     AND {position} >= r.bucket_low AND {position} < r.bucket_high
    WHERE a.partner_id = :partner
      AND ({start_stage} = :stage
           OR EXISTS (SELECT 1 FROM account_event e
                      WHERE e.account_id = a.id AND e.kind IN ({STAGE.kinds_sql})
                        AND {STAGE.text("e.after")} = :stage
                        AND e.as_of BETWEEN :start_day AND :end_day)
           OR a.id IN (SELECT account_id FROM tagged))
),
paid AS (
    SELECT p.account_id, sum(p.amount) AS recovered
    FROM payment p
    WHERE p.experiment_arm_id IN (SELECT id FROM arms) AND p.status = 'applied'
    GROUP BY p.account_id
),
accounts AS (
    SELECT c.arm_id, count(*) AS accounts,
           COALESCE(sum(pd.recovered), 0) AS recovered,
           COALESCE(sum(pd.recovered * pd.recovered), 0) AS recovered_squares,
           count(*) FILTER (WHERE :stage <> 'current') AS past_due_accounts,
           count(*) FILTER (WHERE :stage <> 'current' AND {end_stage} = 'current') AS cured
    FROM cohort c LEFT JOIN paid pd ON pd.account_id = c.id
    GROUP BY c.arm_id
),
work AS (
    SELECT i.experiment_arm_id AS arm_id, count(*) AS attempts,
           count(*) FILTER (WHERE i.party <> 'none') AS contacts,
           count(*) FILTER (WHERE i.result_code IN ({_RPC_CODES})) AS right_party_contacts,
           count(pr.id) FILTER (WHERE pr.status <> 'cancelled') AS promises,
           count(pr.id) FILTER (WHERE pr.status IN ('kept', 'partially_kept', 'broken'))
               AS promises_resolved,
           count(pr.id) FILTER (WHERE pr.status = 'kept') AS promises_kept
    FROM interaction i
    LEFT JOIN promise pr ON pr.interaction_id = i.id
    WHERE i.experiment_arm_id IN (SELECT id FROM arms)
      AND NOT EXISTS (SELECT 1 FROM interaction x WHERE x.amends_id = i.id)
    GROUP BY i.experiment_arm_id
)
SELECT r.id AS arm_id, r.name, r.position, r.share_pct,
       COALESCE(ac.accounts, 0) AS accounts,
       COALESCE(ac.recovered, 0) AS recovered,
       COALESCE(ac.recovered_squares, 0) AS recovered_squares,
       COALESCE(ac.past_due_accounts, 0) AS past_due_accounts,
       COALESCE(ac.cured, 0) AS cured,
       COALESCE(w.attempts, 0) AS attempts, COALESCE(w.contacts, 0) AS contacts,
       COALESCE(w.right_party_contacts, 0) AS right_party_contacts,
       COALESCE(w.promises, 0) AS promises,
       COALESCE(w.promises_resolved, 0) AS promises_resolved,
       COALESCE(w.promises_kept, 0) AS promises_kept
FROM experiment_arm r
LEFT JOIN accounts ac ON ac.arm_id = r.id
LEFT JOIN work w ON w.arm_id = r.id
WHERE r.experiment_id = :experiment
ORDER BY r.position
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class RateFigure:
    value: Decimal
    low: Decimal
    high: Decimal
    successes: int
    trials: int


def rate_figure(successes: int, trials: int) -> RateFigure | None:
    """A proportion with its Wilson interval; None when there is nothing to divide by."""
    if successes > trials:
        return None  # not a proportion (never with the definitions used here)
    value = ratio(successes, trials)
    interval = wilson(successes, trials)
    if value is None or interval is None:
        return None
    return RateFigure(value, interval.low, interval.high, successes, trials)


@dataclass(frozen=True, slots=True)
class ArmFigures:
    arm_id: uuid.UUID
    name: str
    champion: bool
    share: Decimal
    accounts: int
    attempts: int
    contacts: int
    right_party_contacts: int
    promises: int
    promises_resolved: int
    promises_kept: int
    recovered: Decimal
    past_due_accounts: int
    cured: int
    contact_rate: RateFigure | None
    rpc_rate: RateFigure | None
    promise_rate: RateFigure | None
    kept_rate: RateFigure | None
    recovered_per_account: MeanEstimate | None
    cure_rate: RateFigure | None


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: StrategyExperiment
    currency: str
    arms: list[ArmFigures]


async def experiment_report(
    session: AsyncSession,
    principal: Principal,
    experiment_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> ExperimentReport:
    """Per arm, from the experiment's start to its end (or now, while it runs); one
    statement. The definitions are the KPI reports' (app/services/reports.py):

    - ``accounts``: the partner's accounts the hash assigns to the arm that were in the
      experiment's stage on its first day or entered it while it ran (the account's
      history, read as the reports read "stage on day D"), or have anything recorded under
      the arm;
    - ``attempts``: interactions recorded under the arm, a corrected one counted once (as its
      correction); ``contacts``: those that reached someone (``party`` not ``none``);
      ``right_party_contacts``: those with a RPC* result code; ``promises``: promises taken
      in them, cancelled ones left out; ``promises_resolved``/``promises_kept``: of them,
      kept, partially kept or broken / kept in full (as the agents report);
    - ``contact_rate`` and ``rpc_rate`` are over attempts, ``promise_rate`` over right-party
      contacts, ``kept_rate`` over resolved promises (the agents report's ratios);
    - ``recovered``: payments recorded under the arm and not reversed (gross less reversed,
      as the recovery report); ``recovered_per_account`` divides it by ``accounts``, every
      account counted, zeros included;
    - cure (as the recovery report): of the arm's accounts past due (every one, unless the
      stage is ``current``), those whose stage at the end day is ``current``.

    Proportions carry the 95 % Wilson score interval; note that attempts of one account are
    not independent trials, so the intervals of the per-attempt rates are somewhat narrow
    when accounts are worked many times. The mean recovered carries a 95 % Student t interval
    (:func:`app.domain.experiments.mean_interval` says why)."""
    view = await get_experiment(session, principal, experiment_id)
    experiment = view.experiment
    partner = await session.get_one(Partner, experiment.partner_id)
    zone = ZoneInfo(partner.time_zone)
    end = experiment.ended_at or now or datetime.now(UTC)
    statement = text(_report_sql()).bindparams(
        experiment=experiment.id,
        partner=partner.id,
        stage=experiment.stage,
        start_day=experiment.created_at.astimezone(zone).date(),
        end_day=end.astimezone(zone).date(),
    )
    rows = (await session.execute(statement)).mappings().all()
    unit = minor_unit(partner.currency)
    figures = [
        ArmFigures(
            arm_id=r["arm_id"],
            name=r["name"],
            champion=r["position"] == 0,
            share=r["share_pct"],
            accounts=r["accounts"],
            attempts=r["attempts"],
            contacts=r["contacts"],
            right_party_contacts=r["right_party_contacts"],
            promises=r["promises"],
            promises_resolved=r["promises_resolved"],
            promises_kept=r["promises_kept"],
            recovered=Decimal(r["recovered"]).quantize(unit),
            past_due_accounts=r["past_due_accounts"],
            cured=r["cured"],
            contact_rate=rate_figure(r["contacts"], r["attempts"]),
            rpc_rate=rate_figure(r["right_party_contacts"], r["attempts"]),
            promise_rate=rate_figure(r["promises"], r["right_party_contacts"]),
            kept_rate=rate_figure(r["promises_kept"], r["promises_resolved"]),
            recovered_per_account=mean_interval(
                r["accounts"], Decimal(r["recovered"]), Decimal(r["recovered_squares"]), unit
            ),
            cure_rate=rate_figure(r["cured"], r["past_due_accounts"]),
        )
        for r in rows
    ]
    return ExperimentReport(experiment, partner.currency, figures)
