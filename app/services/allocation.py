"""Allocation: the rules (write, read, replace, delete) and the run that applies them to
every active account, set-based.

The rules' semantics (order, matching, territory, distribution) are those of
``app/domain/allocation.py``; this module writes them in SQL, one statement per rule.

A run:

- takes a transaction advisory lock with ``pg_try_advisory_xact_lock``: a second run while
  one is under way is refused at once (409 ``conflict``) rather than queued behind it, so
  no request holds a connection waiting and the caller sees the first run's result before
  deciding to run again;
- walks the rules in order; for each, one statement finds the active accounts it decides
  (first match), keeps those whose collector still qualifies (an active collector with the
  rule's skill in the rule's team, or the rule's collector), spreads the rest over the
  rule's collectors with room under the capacity, least loaded first (loads counted as the
  rule is applied: every active account the collector holds), leaves what finds no room
  without a collector in the rule's team, and writes the changes, their ``assigned``
  history events (the shape manual assignment writes) and its own record of what it set;
- records one audit event ``allocation.run`` with the counts.

**Manual assignments win.** ``account_allocation`` keeps what allocation last set on each
account. An account that has a collector other than the one allocation set (a manual
assignment since the last run, or one made before allocation ever ran, e.g. by the partner
push) keeps it: it is counted as ``manual`` and not touched. Unassigning the collector by
hand (``PATCH`` with ``assigned_collector_id: null``) hands the account back to allocation.
``reassign_manual=true`` overrides this for one run: manual assignments are then treated as
any other (kept when the collector qualifies, moved otherwise).

**No churn.** A collector above the capacity keeps what they have (capacity limits what a
run gives, it never takes accounts away); accounts no rule matches are left as they are.

A dry run executes the same statements inside a savepoint and rolls it back: its counts are
exact and nothing is written (no audit event either).

Statements per run: the lock, the rules, one per rule, the active-account count, and the
audit event's three; none depends on the number of accounts.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import locks
from app.domain.allocation import Rule, check_rule_shape, check_territory, ordered
from app.domain.errors import AllocationRunning, InvalidInput, NotFound, VersionMismatch
from app.domain.history import Assigned
from app.domain.roles import Role, Skill
from app.domain.stages import ProductType, Stage
from app.i18n import N_, Message
from app.ids import new_id
from app.models.allocation import AllocationRule
from app.models.partner import Partner
from app.models.user import Team, User
from app.pagination import decode_cursor, encode_cursor
from app.schemas.allocation import AllocationRuleWrite
from app.security import Principal
from app.services import audit, history

_BAD_CURSOR = N_("not a cursor this API issued")


# ---------------------------------------------------------------------------------------
# Rules


def _snapshot(rule: AllocationRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "priority": rule.priority,
        "partner_id": rule.partner_id,
        "stages": list(rule.stages),
        "product_types": list(rule.product_types),
        "skill": rule.skill,
        "states": list(rule.states),
        "municipalities": list(rule.municipalities),
        "postal_prefixes": list(rule.postal_prefixes),
        "team_id": rule.team_id,
        "collector_id": rule.collector_id,
        "capacity": rule.capacity,
        "version": rule.version,
    }


def domain_rule(rule: AllocationRule) -> Rule:
    territory = check_territory(rule.states, rule.municipalities, rule.postal_prefixes)
    return Rule(
        id=rule.id,
        priority=rule.priority,
        skill=Skill(rule.skill),
        capacity=rule.capacity,
        partner_id=rule.partner_id,
        stages=frozenset(Stage(s) for s in rule.stages),
        product_types=frozenset(ProductType(p) for p in rule.product_types),
        territory=territory,
        team_id=rule.team_id,
        collector_id=rule.collector_id,
    )


async def _checked(session: AsyncSession, data: AllocationRuleWrite) -> dict[str, Any]:
    """The rule's stored fields, or a 422 naming the first field that is wrong."""
    check_rule_shape(
        priority=data.priority,
        capacity=data.capacity,
        stages=data.stages,
        team_id=data.team_id,
        collector_id=data.collector_id,
    )
    territory = check_territory(
        data.territory.states, data.territory.municipalities, data.territory.postal_prefixes
    )
    if data.partner_id is not None and await session.get(Partner, data.partner_id) is None:
        raise InvalidInput("partner_id", N_("no such partner"))
    if data.team_id is not None and await session.get(Team, data.team_id) is None:
        raise InvalidInput("team_id", N_("no such team"))
    if data.collector_id is not None:
        user = await session.get(User, data.collector_id)
        if user is None or user.role != Role.COLLECTOR.value or not user.is_active:
            raise InvalidInput("collector_id", N_("must be an active user with role collector"))
        if data.skill.value not in user.skills:
            raise InvalidInput(
                "collector_id",
                N_("the collector lacks the '{skill}' skill"),
                {"skill": data.skill},
            )
    return {
        "name": data.name.strip() or data.name,
        "priority": data.priority,
        "partner_id": data.partner_id,
        "stages": [s.value for s in Stage if s in set(data.stages)],
        "product_types": [p.value for p in ProductType if p in set(data.product_types)],
        "skill": data.skill.value,
        "states": sorted(territory.states),
        "municipalities": sorted(territory.municipalities),
        "postal_prefixes": sorted(territory.postal_prefixes),
        "team_id": data.team_id,
        "collector_id": data.collector_id,
        "capacity": data.capacity,
    }


async def create_rule(
    session: AsyncSession, actor: Principal, data: AllocationRuleWrite
) -> AllocationRule:
    fields = await _checked(session, data)
    now = datetime.now(UTC)
    rule = AllocationRule(
        **fields,
        created_by=actor.audit_id,
        updated_by=actor.audit_id,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    await audit.record(
        session, actor, "allocation_rule.created", "allocation_rule", rule.id,
        after=_snapshot(rule), now=now,
    )  # fmt: skip
    return rule


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> AllocationRule:
    rule = await session.get(AllocationRule, rule_id)
    if rule is None:
        raise NotFound({"entity": "allocation_rule"})
    return rule


async def _lock_rule(
    session: AsyncSession, rule_id: uuid.UUID, expected_version: int | None
) -> AllocationRule:
    rule = await session.scalar(
        select(AllocationRule)
        .where(col(AllocationRule.id) == rule_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if rule is None:
        raise NotFound({"entity": "allocation_rule"})
    if expected_version is not None and expected_version != rule.version:
        raise VersionMismatch({"current": rule.version})
    return rule


async def replace_rule(
    session: AsyncSession,
    actor: Principal,
    rule_id: uuid.UUID,
    data: AllocationRuleWrite,
    expected_version: int | None,
) -> AllocationRule:
    rule = await _lock_rule(session, rule_id, expected_version)
    fields = await _checked(session, data)
    before = _snapshot(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    after = _snapshot(rule)
    if after == before:
        return rule
    now = datetime.now(UTC)
    rule.version += 1
    rule.updated_by = actor.audit_id
    rule.updated_at = now
    session.add(rule)
    await session.flush()
    await audit.record(
        session, actor, "allocation_rule.updated", "allocation_rule", rule.id,
        before=before, after=_snapshot(rule), now=now,
    )  # fmt: skip
    return rule


async def delete_rule(
    session: AsyncSession, actor: Principal, rule_id: uuid.UUID, expected_version: int | None
) -> None:
    """Accounts it placed keep their collector (a later run re-decides them)."""
    rule = await _lock_rule(session, rule_id, expected_version)
    before = _snapshot(rule)
    await session.delete(rule)
    await session.flush()
    await audit.record(
        session, actor, "allocation_rule.deleted", "allocation_rule", rule_id, before=before
    )


async def list_rules(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[AllocationRule], str | None]:
    """Rules in the order a run tries them."""
    query = select(AllocationRule)
    values = decode_cursor(cursor, 2)
    if values is not None:
        try:
            after = (int(values[0]), uuid.UUID(values[1]))
        except ValueError as exc:
            raise InvalidInput("query.cursor", _BAD_CURSOR) from exc
        query = query.where(
            tuple_(col(AllocationRule.priority), col(AllocationRule.id)) > tuple_(*after)
        )
    rows = (
        await session.scalars(
            query.order_by(col(AllocationRule.priority), col(AllocationRule.id)).limit(limit + 1)
        )
    ).all()
    page = list(rows[:limit])
    next_cursor = encode_cursor(page[-1].priority, page[-1].id) if len(rows) > limit else None
    return page, next_cursor


# ---------------------------------------------------------------------------------------
# Runs


def _plain_sql(column: str) -> str:
    """Mirror of ``app.domain.allocation.plain``."""
    return f"lower(regexp_replace(btrim(cartera_unaccent({column})), '\\s+', ' ', 'g'))"


_MATCH = """
    (r.partner_id IS NULL OR r.partner_id = a.partner_id)
    AND (cardinality(r.stages) = 0 OR a.stage = ANY(r.stages))
    AND (cardinality(r.product_types) = 0 OR a.product_type = ANY(r.product_types))
    AND ((cardinality(r.states) = 0 AND cardinality(r.municipalities) = 0
          AND cardinality(r.postal_prefixes) = 0)
         OR ad.state = ANY(r.states)
         OR ad.municipality = ANY(r.municipalities)
         OR EXISTS (SELECT 1 FROM unnest(r.postal_prefixes) AS pp(prefix)
                    WHERE starts_with(ad.postal_code, pp.prefix)))
"""

# One rule of a run: :idx is the rule's place in the run's order; :rules every rule (so the
# first match is found); the rest describes this rule.
# Each changed account's history: whom it was assigned to, and whom it is now.
_ASSIGNED_FROM = history.before_sql(
    Assigned, assigned_collector_id="c.old_collector", assigned_team_id="c.old_team"
)
_ASSIGNED_TO = history.after_sql(
    Assigned, assigned_collector_id="c.new_collector", assigned_team_id="c.new_team"
)

_STEP = f"""
WITH rules AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rules AS jsonb)) AS r(
        idx int, partner_id uuid, stages text[], product_types text[],
        states text[], municipalities text[], postal_prefixes text[])
),
matched AS (
    SELECT a.id, a.partner_id, a.total,
           a.assigned_collector_id AS old_collector, a.assigned_team_id AS old_team,
           (a.assigned_collector_id IS NOT NULL
            AND (aa.account_id IS NULL
                 OR aa.collector_id IS DISTINCT FROM a.assigned_collector_id
                 OR aa.team_id IS DISTINCT FROM a.assigned_team_id)) AS manual
    FROM account a
    LEFT JOIN LATERAL (
        SELECT {_plain_sql("cp.state")} AS state,
               {_plain_sql("cp.municipality")} AS municipality,
               upper(regexp_replace(cp.postal_code, '\\s', '', 'g')) AS postal_code
        FROM contact_point cp
        WHERE cp.account_id = a.id AND cp.kind = 'address' AND cp.related_party_id IS NULL
          AND cp.verification_status <> 'invalid'
        ORDER BY cp.position, cp.id
        LIMIT 1
    ) ad ON true
    LEFT JOIN account_allocation aa ON aa.account_id = a.id
    WHERE a.status = 'active'
      AND (SELECT min(r.idx) FROM rules r WHERE {_MATCH}) = :idx
),
rule_team AS (
    SELECT COALESCE(
        CAST(:team_id AS uuid),
        (SELECT tm.team_id FROM team_member tm WHERE tm.user_id = CAST(:collector_id AS uuid))
    ) AS team_id
),
pool AS (
    SELECT u.id AS collector_id,
           (SELECT count(*) FROM account x
            WHERE x.assigned_collector_id = u.id AND x.status = 'active') AS load
    FROM app_user u
    LEFT JOIN team_member tm ON tm.user_id = u.id
    WHERE u.role = 'collector' AND u.is_active AND CAST(:skill AS varchar) = ANY(u.skills)
      AND (tm.team_id = CAST(:team_id AS uuid) OR u.id = CAST(:collector_id AS uuid))
),
candidates AS (
    SELECT * FROM matched WHERE CAST(:reassign AS boolean) OR NOT manual
),
kept AS (
    SELECT c.* FROM candidates c WHERE c.old_collector IN (SELECT collector_id FROM pool)
),
pending AS (
    SELECT c.*, row_number() OVER (ORDER BY c.total DESC, c.id) AS n
    FROM candidates c
    WHERE c.old_collector IS NULL OR c.old_collector NOT IN (SELECT collector_id FROM pool)
),
slots AS (
    SELECT p.collector_id, row_number() OVER (ORDER BY s.level, p.collector_id) AS n
    FROM pool p
    CROSS JOIN LATERAL generate_series(
        p.load + 1,
        LEAST(CAST(:capacity AS bigint), p.load + (SELECT count(*) FROM pending))
    ) AS s(level)
),
decided AS (
    SELECT k.id, k.partner_id, k.old_collector, k.old_team,
           k.old_collector AS new_collector, 'kept' AS outcome
    FROM kept k
    UNION ALL
    SELECT p.id, p.partner_id, p.old_collector, p.old_team, s.collector_id,
           CASE WHEN s.collector_id IS NULL THEN 'unassigned' ELSE 'assigned' END
    FROM pending p LEFT JOIN slots s ON s.n = p.n
),
changed AS (
    UPDATE account a
    SET assigned_collector_id = d.new_collector, assigned_team_id = rt.team_id,
        version = a.version + 1, updated_at = :now
    FROM decided d, rule_team rt
    WHERE a.id = d.id AND a.status = 'active'
      -- changed by hand since this statement's snapshot: leave it (re-checked under lock)
      AND a.assigned_collector_id IS NOT DISTINCT FROM d.old_collector
      AND a.assigned_team_id IS NOT DISTINCT FROM d.old_team
      AND (d.new_collector IS DISTINCT FROM d.old_collector
           OR rt.team_id IS DISTINCT FROM d.old_team)
    RETURNING a.id, a.partner_id, d.old_collector, d.old_team,
              a.assigned_collector_id AS new_collector, a.assigned_team_id AS new_team
),
events AS (
    {history.INSERT}
    SELECT c.id, c.partner_id, {history.kind_sql(Assigned)},
           CAST((CAST(:now AS timestamptz) AT TIME ZONE p.time_zone) AS date), :now, :actor,
           {_ASSIGNED_FROM}, {_ASSIGNED_TO}
    FROM changed c JOIN partner p ON p.id = c.partner_id
    RETURNING 1
),
marks AS (
    INSERT INTO account_allocation AS m (account_id, rule_id, collector_id, team_id,
                                         allocated_at)
    SELECT c.id, CAST(:rule_id AS uuid), c.new_collector, c.new_team, :now FROM changed c
    UNION ALL
    SELECT d.id, CAST(:rule_id AS uuid), d.new_collector, rt.team_id, :now
    FROM decided d, rule_team rt
    WHERE d.new_collector IS NOT DISTINCT FROM d.old_collector
      AND rt.team_id IS NOT DISTINCT FROM d.old_team
    ON CONFLICT (account_id) DO UPDATE
    SET rule_id = EXCLUDED.rule_id, collector_id = EXCLUDED.collector_id,
        team_id = EXCLUDED.team_id, allocated_at = EXCLUDED.allocated_at
    WHERE (m.rule_id, m.collector_id, m.team_id)
          IS DISTINCT FROM (EXCLUDED.rule_id, EXCLUDED.collector_id, EXCLUDED.team_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM matched) AS matched,
       (SELECT count(*) FROM matched WHERE manual) AS manual_total,
       (SELECT count(*) FROM pool) AS collectors,
       (SELECT count(*) FROM decided WHERE outcome = 'kept') AS kept,
       (SELECT count(*) FROM decided WHERE outcome = 'assigned') AS assigned,
       (SELECT count(*) FROM decided WHERE outcome = 'unassigned') AS unassigned,
       (SELECT count(*) FROM changed) AS changed,
       (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM marks) AS marks
"""  # noqa: S608 (trusted fragments of this module only)

_ACTIVE = "SELECT count(*) FROM account WHERE status = 'active'"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule_id: uuid.UUID
    name: str
    priority: int
    collectors: int
    matched: int
    manual: int
    kept: int
    assigned: int
    unassigned: int
    changed: int
    warnings: list[Message]  # shown in the reader's language


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: uuid.UUID
    dry_run: bool
    reassign_manual: bool
    started_at: datetime
    active_accounts: int
    rules: list[RuleOutcome]

    @property
    def unmatched(self) -> int:
        return self.active_accounts - sum(r.matched for r in self.rules)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.rules)


def _rules_json(rules: list[Rule]) -> str:
    return json.dumps(
        [
            {
                "idx": idx,
                "partner_id": None if r.partner_id is None else str(r.partner_id),
                "stages": sorted(s.value for s in r.stages),
                "product_types": sorted(p.value for p in r.product_types),
                "states": sorted(r.territory.states),
                "municipalities": sorted(r.territory.municipalities),
                "postal_prefixes": sorted(r.territory.postal_prefixes),
            }
            for idx, r in enumerate(rules)
        ]
    )


def _warnings(rule: AllocationRule, collectors: int, unassigned: int) -> list[Message]:
    out: list[Message] = []
    if collectors == 0:
        out.append(
            Message(
                N_("the team has no active collector with the '{skill}' skill"),
                {"skill": rule.skill},
            )
            if rule.team_id is not None
            else Message(
                N_("the collector is not an active collector with the '{skill}' skill"),
                {"skill": rule.skill},
            )
        )
    if unassigned:
        out.append(
            Message(
                N_("{accounts} accounts found no collector with room under the capacity"),
                {"accounts": unassigned},
            )
        )
    return out


async def _apply(
    session: AsyncSession,
    actor: Principal,
    rows: list[AllocationRule],
    *,
    reassign_manual: bool,
    now: datetime,
) -> list[RuleOutcome]:
    by_id = {r.id: r for r in rows}
    rules = ordered(domain_rule(r) for r in rows)
    rules_json = _rules_json(rules)
    outcomes: list[RuleOutcome] = []
    for idx, rule in enumerate(rules):
        row = (
            await session.execute(
                text(_STEP),
                {
                    "rules": rules_json,
                    "idx": idx,
                    "rule_id": rule.id,
                    "team_id": rule.team_id,
                    "collector_id": rule.collector_id,
                    "skill": rule.skill.value,
                    "capacity": rule.capacity,
                    "reassign": reassign_manual,
                    "now": now,
                    "actor": actor.audit_id,
                },
            )
        ).one()
        stored = by_id[rule.id]
        manual = 0 if reassign_manual else int(row.manual_total)
        outcomes.append(
            RuleOutcome(
                rule_id=stored.id,
                name=stored.name,
                priority=stored.priority,
                collectors=int(row.collectors),
                matched=int(row.matched),
                manual=manual,
                kept=int(row.kept),
                assigned=int(row.assigned),
                unassigned=int(row.unassigned),
                changed=int(row.changed),
                warnings=_warnings(stored, int(row.collectors), int(row.unassigned)),
            )
        )
    return outcomes


async def run_allocation(
    session: AsyncSession,
    actor: Principal,
    *,
    dry_run: bool = False,
    reassign_manual: bool = False,
    now: datetime | None = None,
) -> RunResult:
    """Apply every rule to every active account (see the module's docstring)."""
    moment = now or datetime.now(UTC)
    if not await locks.try_hold(session, locks.LockClass.ALLOCATION_RUN):
        raise AllocationRunning()
    rows = list(
        (
            await session.scalars(
                select(AllocationRule).order_by(
                    col(AllocationRule.priority), col(AllocationRule.id)
                )
            )
        ).all()
    )
    if dry_run:
        savepoint = await session.begin_nested()
        try:
            outcomes = await _apply(
                session, actor, rows, reassign_manual=reassign_manual, now=moment
            )
        finally:
            await savepoint.rollback()
    else:
        outcomes = await _apply(session, actor, rows, reassign_manual=reassign_manual, now=moment)
    active = int(await session.scalar(text(_ACTIVE)) or 0)
    result = RunResult(new_id(), dry_run, reassign_manual, moment, active, outcomes)
    if not dry_run:
        await audit.record(
            session,
            actor,
            "allocation.run",
            "allocation_run",
            result.run_id,
            after={
                "reassign_manual": reassign_manual,
                "active_accounts": result.active_accounts,
                "unmatched": result.unmatched,
                "changed": result.changed,
                "rules": [
                    {
                        "rule_id": str(o.rule_id),
                        "matched": o.matched,
                        "manual": o.manual,
                        "kept": o.kept,
                        "assigned": o.assigned,
                        "unassigned": o.unassigned,
                        "changed": o.changed,
                    }
                    for o in outcomes
                ],
            },
            now=moment,
        )
    return result
