"""The collector's work queue: which assigned account to work now, why, and by which channel;
and the claim that keeps two sessions from working the same account at once.

**What is listed.** A collector's active assigned accounts (exactly what
:func:`app.services.accounts.readable_accounts` gives a collector), less those another session
holds an unexpired claim on, that may be contacted *now* under the partner's country pack and
strategy, in the contact point's local time. Each comes with its score and reasons
(:mod:`app.domain.priority`) and the channel to use: the first of the collector's channels
(phone skill: call, WhatsApp, SMS, email; field skill: visit) that the strategy allows for
the stage and that the contact check allows on one of the debtor's own contact points (best
first: verified, then most contactable, then the partner's order). Letters are left out: they
are not timed, so they would make every account "workable now". Only the debtor is
considered (references and guarantors are worked from the account, not from the queue).

**How, in a fixed number of statements.** First, the pre-filter: one statement reads the
debtor contact points of the collector's active accounts (what places each: a phone's area,
an address's state, the zone stored with it; never more than that), and only accounts with a
channel and point whose every candidate zone is open now under the day and hour rules go on
(:func:`_workable`, :func:`_reachable`; whether a zone is open is worked out once per country
and zones, a phone's zones are remembered by its blind index). Every other account would be
refused by the contact check in some zone whatever else holds, so at night, when nothing is
open, the queue answers after that one statement. The process keeps that reading (accounts
grouped by what their points place) with a fingerprint of the rows it came from (their count
and two sums of row hashes); the next call asks PostgreSQL only for the fingerprint (one row)
and reads the points again only when it differs, so a point or an assignment changed by any
process is seen on the next call. Then a round fetches a batch of candidates with every
per-account fact in one statement (partner, the strategy version in force, promise due today
or broken yesterday, last contact, flags, consents, claim, the debtor's recent contacts),
ordered by a SQL *pre-score*: the part of the priority that does not depend on the contact
point (a due callback, promises, balance × stage weight, days without contact; the point adds
at most :data:`~app.domain.priority.MAX_POINT_POINTS`). Then, for the whole batch at once:
the strategy documents (parsed once per version and process: a version never changes), the
debtor's contact points (values left sealed) with their attempts by local hour (one
statement), the running experiments (only when one runs on a batch's stage) and (only when
some account has pauses) the pauses. The pure
check (:func:`app.domain.contact_check.check_contact`) then runs in Python per candidate. A
round yields its allowed accounts; another round (keyset on the pre-score) follows only
while fewer than ``limit`` were found, at most :data:`MAX_ROUNDS` rounds, so a queue whose
accounts are nearly all outside their hours does not scan the whole portfolio. Within what
was fetched the order is exact (the pure score, ties by account id); an account outside the
fetched batches whose point would lift it above the last listed one can be missed, by at
most the point's 150 points.

**Claims.** ``POST /worklists/me/next`` claims the top account for :data:`CLAIM_TTL` in a
``worklist_claim`` row (one per account). Accounts have one assigned collector, so claims do
not arbitrate between collectors of a team; they keep one collector's several sessions (two
tabs, a softphone and a browser) from dialling the same debtor, and they keep an account a
collector is on from being handed out again when a lead reassigns it meanwhile (the claim
blocks everyone else until it lapses or is released). Of the allowed accounts in priority
order, the first one no concurrent transaction holds is locked ``FOR NO KEY UPDATE SKIP
LOCKED`` in one statement (a concurrent ``next`` skips what another is taking instead of
queueing behind it; payments lock the account more strongly, so an account being paid this
instant is skipped too), and the claim is an upsert that only overwrites an
*expired* row: that is the guarantee, the lock only keeps callers from colliding. An expired
claim is free again. Recording an interaction releases the recorder's claim on the account
(:func:`release_claim`). Times are the app's clock (``now``), passed in so tests can freeze it.

**Kept rankings.** A claim evaluates its batch :data:`CLAIM_EVALUATED` accounts at a time
(the next ones only when none of those is allowed). The process then keeps, for
``worklist_ranking_seconds`` (on the app's clock and its own), what follows the claimed
account: the rest of its few by score, then the batch's others by pre-score. The collector's
next calls within that window take the first of those that is still the collector's, active,
unclaimed and not being taken, lock it, claim it and read its facts afresh in one statement
(:data:`_CLAIM_FIRST_FREE`), run the full contact check on them and its points and history
read now, and delete the claim again in the same transaction if the check refuses: only the
order is of a few seconds ago, never the law, the assignment or the claim. A ranking used up
is made again. A pre-filter that found nothing open is kept for the same window (a kept "no
account" never makes a contact unlawful): a point that opens a zone is seen after it.
``GET /worklists/me`` keeps nothing.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    Boolean,
    DateTime,
    Integer,
    RowMapping,
    String,
    bindparam,
    delete,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import vault
from app.config import Settings
from app.domain.contact_check import (
    CONVERSATION_CODES,
    PACKS,
    POINT_KIND,
    RIGHT_PARTY_CODES,
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Party,
    PastContact,
    RulePack,
    age_flags,
    check_contact,
    party_counted,
    past_contact,
    strictest,
    window_open,
)
from app.domain.contactability import HourCount, VerificationStatus, contactability
from app.domain.errors import PermissionDenied
from app.domain.experiments import BUCKET_SQL
from app.domain.geography import ZoneEvidence, evidence_zones, zones_from
from app.domain.interactions import PORTAL_CHANNEL
from app.domain.priority import Priority, PriorityFacts, score_account, sort_key
from app.domain.roles import Role, Skill
from app.domain.stages import Stage
from app.domain.strategies import (
    DEFAULT_VERSION,
    StrategyDocument,
    default_for,
    limits_for,
)
from app.models.account import AccountPause
from app.models.debtor import CONTACT
from app.models.strategy import CollectionStrategy
from app.models.worklist import WorklistClaim
from app.security import Principal
from app.services import experiments
from app.services import strategies as strategy_service
from app.services.contact_check import (
    ANYWHERE,
    HISTORY_WINDOW,
    pack_of,
    points_placing,
)
from app.services.flags import REACH_PARAMS

CLAIM_TTL = timedelta(minutes=5)
MAX_ROUNDS = 4
MIN_BATCH = 30
# How many of a batch `next` evaluates at a time (the rest only if none of those is allowed).
CLAIM_EVALUATED = 10
MAX_BATCH = 200
PHONE_CHANNELS = (
    ContactChannel.CALL,
    ContactChannel.WHATSAPP,
    ContactChannel.SMS,
    ContactChannel.EMAIL,
)
FIELD_CHANNELS = (ContactChannel.VISIT,)
_TOP_SCORE = 2**31 - 1
_NIL = uuid.UUID(int=0)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    channel: ContactChannel
    contact_point_id: uuid.UUID
    kind: str
    value_masked: str
    time_zone: str
    local_time: datetime  # now, in the contact point's zone


@dataclass(frozen=True, slots=True)
class WorkItem:
    account_id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    debtor_name: str
    stage: str
    dpd: int
    currency: str
    total: Decimal
    past_due_amount: Decimal
    priority: Priority
    channel: ChannelChoice
    claimed_until: datetime | None  # the caller's own unexpired claim


@dataclass(frozen=True, slots=True)
class Claimed:
    item: WorkItem
    expires_at: datetime


# ---------------------------------------------------------------------------------------
# Statements (each over a whole batch)

# The SQL pre-score mirrors app/domain/priority.py without the contact point's part (a due
# callback: app/services/callbacks.py).
# The account's arm while an experiment runs on its stage (app/domain/experiments.py's
# bucket, computed in SQL): a challenger's priority weight replaces the champion's.
_EXPERIMENT_ARM = f"""
      SELECT r.id AS arm_id, r.document AS arm_document
      FROM strategy_experiment x JOIN experiment_arm r ON r.experiment_id = x.id
      WHERE x.partner_id = a.partner_id AND x.stage = a.stage AND x.status = 'running'
        AND {BUCKET_SQL.format(experiment="x.id", account="a.id")} >= r.bucket_low
        AND {BUCKET_SQL.format(experiment="x.id", account="a.id")} < r.bucket_high
"""  # noqa: S608

_CANDIDATES_SQL = """
SELECT top.*,
       ARRAY(SELECT f.kind FROM debtor_flag f
             WHERE f.debtor_id = top.debtor_id AND f.cleared_at IS NULL
               AND (f.account_id IS NULL OR f.account_id = top.id
                    OR f.kind = ANY(:agency_flags)
                    OR (f.kind = ANY(:creditor_flags) AND f.partner_id = top.partner_id)))
         AS flags,
       ARRAY(SELECT cc.channel || ':' || cc.status FROM contact_consent cc
             WHERE cc.debtor_id = top.debtor_id AND cc.partner_id = top.partner_id)
         AS consents,
       -- Whether the experiments need reading at all (experiments.running_experiments).
       EXISTS (SELECT 1 FROM strategy_experiment x
               WHERE x.partner_id = top.partner_id AND x.stage = top.stage
                 AND x.status = 'running') AS experiment_running,
       h.started_at AS history_at, h.channel AS history_channel, h.party AS history_party,
       h.result_code AS history_code
FROM (
  SELECT * FROM (
    SELECT c.*,
           (CASE WHEN c.callback_due_at IS NOT NULL THEN 2000 ELSE 0 END
            + CASE WHEN c.due_today THEN 400 ELSE 0 END
            + CASE WHEN c.broken THEN 300 ELSE 0 END
            -- In double precision and rounded half up, as priority.balance_points does.
            + least(300, floor(CAST(c.stage_weight AS double precision) / 100 * 50
                               * log(1 + CAST(c.total AS double precision)) + 0.5))
            + 5 * least(30, coalesce(
                  floor(extract(epoch FROM (:now - c.last_contact)) / 86400), 30))
           )::integer AS pre_score
    FROM (
      SELECT a.id, a.partner_id, a.debtor_id, a.external_ref, a.debtor_first_names,
             a.debtor_last_names, a.debtor_birth_date, a.stage, a.dpd, a.status, a.currency,
             a.total, a.past_due_amount, a.has_pauses, p.country, p.time_zone AS partner_zone,
             s.version AS strategy_version,
             ex.arm_id AS experiment_arm_id,
             coalesce((ex.arm_document ->> 'priority_weight')::numeric,
                      (s.document -> 'stages' -> a.stage ->> 'priority_weight')::numeric,
                      (CAST(:default_weights AS jsonb) -> p.country ->> a.stage)::numeric,
                      0) AS stage_weight,
             EXISTS (SELECT 1 FROM promise pr
                     WHERE pr.account_id = a.id AND pr.status = 'pending'
                       AND pr.due_date = d.today) AS due_today,
             EXISTS (SELECT 1 FROM promise pr
                     WHERE pr.account_id = a.id
                       AND ((pr.status = 'pending' AND pr.due_date = d.today - 1)
                            OR (pr.status = 'broken' AND pr.resolved_on >= d.today - 1)))
               AS broken,
             (SELECT max(i.started_at) FROM interaction i
              WHERE i.account_id = a.id AND i.started_at <= :now) AS last_contact,
             (SELECT min(cb.due_at) FROM callback cb
              WHERE cb.account_id = a.id AND cb.collector_id = :collector
                AND cb.done_at IS NULL AND cb.cancelled_at IS NULL AND cb.due_at <= :now)
               AS callback_due_at,
             wc.expires_at AS claimed_until
      FROM account a
      JOIN partner p ON p.id = a.partner_id
      CROSS JOIN LATERAL (SELECT (:now AT TIME ZONE p.time_zone)::date AS today) d
      LEFT JOIN LATERAL (
        SELECT cs.version, cs.document FROM collection_strategy cs
        WHERE cs.partner_id = a.partner_id ORDER BY cs.version DESC LIMIT 1
      ) s ON true
      LEFT JOIN LATERAL (/*EXPERIMENT_ARM*/) ex ON true
      LEFT JOIN worklist_claim wc ON wc.account_id = a.id AND wc.expires_at > :now
      WHERE a.assigned_collector_id = :collector
        AND a.status = 'active'
        AND (wc.account_id IS NULL OR (wc.collector_id = :collector AND NOT :skip_own))
        /*ONLY*/
      -- A fence: the pre-filter's ids are applied outside, so that the planner, misjudging
      -- them together with the collector as one row, does not loop over the claims per
      -- account.
      /*FENCE*/
    ) c
    WHERE c.id = ANY(:workable)
    -- A fence: the pre-score is worked out once per account, not again in the keyset
    -- condition and the sort.
    OFFSET 0
  ) ranked
  WHERE ranked.pre_score < :after_score
     OR (ranked.pre_score = :after_score AND ranked.id > :after_id)
  ORDER BY ranked.pre_score DESC, ranked.id
  LIMIT :batch
) top
-- The contacts the rules count, of the debtor (as app/services/contact_check.py reads them
-- for one debtor): outbound attempts and conversations, not the portal, not amended.
CROSS JOIN LATERAL (
  SELECT array_agg(i.started_at) AS started_at, array_agg(i.channel) AS channel,
         array_agg(i.party) AS party, array_agg(i.result_code) AS result_code
  FROM interaction i
  WHERE i.debtor_id = top.debtor_id
    AND (i.direction = 'outbound' OR i.result_code = ANY(:conversation_codes))
    AND i.channel <> :portal
    AND i.started_at >= :history_since AND i.started_at <= :now
    AND NOT EXISTS (SELECT 1 FROM interaction c
                    WHERE c.amends_id = i.id AND c.debtor_id = top.debtor_id)
) h
-- Flags, consents and history only for the batch.
ORDER BY top.pre_score DESC, top.id
"""
_CANDIDATES_PARAMS: tuple[BindParameter[Any], ...] = (
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("collector", type_=PG_UUID(as_uuid=True)),
    bindparam("after_id", type_=PG_UUID(as_uuid=True)),
    bindparam("after_score", type_=Integer()),
    bindparam("batch", type_=Integer()),
    bindparam("default_weights", type_=String()),
    bindparam("skip_own", type_=Boolean()),
    bindparam("workable", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("conversation_codes", sorted(CONVERSATION_CODES), type_=ARRAY(String())),
    bindparam("portal", PORTAL_CHANNEL, type_=String()),
    bindparam("history_since", type_=DateTime(timezone=True)),
    # Which flags reach an account from the debtor's other accounts (flags.reaches).
    *(bindparam(name, value, type_=ARRAY(String())) for name, value in REACH_PARAMS.items()),
)
_CANDIDATES = text(
    _CANDIDATES_SQL.replace("/*EXPERIMENT_ARM*/", _EXPERIMENT_ARM)
    .replace("/*ONLY*/", "")
    .replace("/*FENCE*/", "OFFSET 0")
).bindparams(*_CANDIDATES_PARAMS)
# The same facts of the first of the named accounts (a kept ranking's following ones, in
# order) that no concurrent transaction holds, locked as _LOCK_FIRST_FREE locks it, and
# claimed as _CLAIM claims it (``won``), in one statement: only the named accounts are read.
# The claim is taken before the contact check runs on these facts: a refused account's claim
# is deleted again in the same transaction (_UNCLAIM), so no other ever sees it.
_CLAIM_FIRST_FREE = text(
    "WITH first AS ("  # noqa: S608
    + _CANDIDATES_SQL.replace("/*EXPERIMENT_ARM*/", _EXPERIMENT_ARM)
    .replace("/*ONLY*/", "AND a.id = ANY(:workable)")
    .replace(
        "/*FENCE*/",
        "ORDER BY array_position(:workable, a.id) LIMIT 1 FOR NO KEY UPDATE OF a SKIP LOCKED",
    )
    + """),
claimed AS (
  INSERT INTO worklist_claim (account_id, partner_id, collector_id, claimed_at, expires_at)
  SELECT first.id, first.partner_id, :collector, :now, :expires_at FROM first
  ON CONFLICT (account_id) DO UPDATE
    SET partner_id = excluded.partner_id, collector_id = excluded.collector_id,
        claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
    WHERE worklist_claim.expires_at <= excluded.claimed_at
  RETURNING account_id
)
SELECT first.*, EXISTS (SELECT 1 FROM claimed) AS won FROM first
"""
).bindparams(*_CANDIDATES_PARAMS, bindparam("expires_at", type_=DateTime(timezone=True)))
_UNCLAIM = text(
    "DELETE FROM worklist_claim"
    " WHERE account_id = :account_id AND collector_id = :collector_id AND claimed_at = :now"
).bindparams(
    bindparam("account_id", type_=PG_UUID(as_uuid=True)),
    bindparam("collector_id", type_=PG_UUID(as_uuid=True)),
    bindparam("now", type_=DateTime(timezone=True)),
)


# The debtor contact points of the collector's active accounts that the queue could use,
# with what places them, for the pre-filter on open zones. A phone comes sealed: it is opened
# only the first time its blind index is seen (see _PHONE_ZONES). Each row comes with two
# hashes of what the pre-filter reads of it; their sums and the count are the reading's
# fingerprint, which _QUEUE_FINGERPRINT gives alone (see _READINGS).
_QUEUE_POINTS_FROM = """
FROM account a
JOIN partner p ON p.id = a.partner_id
JOIN contact_point cp ON cp.account_id = a.id
WHERE a.assigned_collector_id = :collector
  AND a.status = 'active'
  AND cp.related_party_id IS NULL
  AND cp.kind = ANY(:kinds)
  AND cp.verification_status <> 'invalid'
"""
_POINT_HASH = (
    "hash_record_extended(ROW(cp.account_id, cp.id, cp.kind, cp.value_index, cp.state,"
    " cp.municipality, cp.postal_code, cp.time_zone, p.country), {seed})"
)
_QUEUE_POINTS = text(
    f"""
SELECT cp.account_id, cp.id, cp.kind, cp.value_index, cp.state, cp.municipality,
       cp.postal_code, cp.time_zone, p.country,
       CASE WHEN cp.kind = 'phone' THEN cp.value END AS sealed_phone,
       {_POINT_HASH.format(seed=0)} AS hash0, {_POINT_HASH.format(seed=1)} AS hash1
{_QUEUE_POINTS_FROM}"""
).bindparams(
    bindparam("collector", type_=PG_UUID(as_uuid=True)),
    bindparam("kinds", type_=ARRAY(String())),
)
_QUEUE_FINGERPRINT = text(
    f"""
SELECT count(*), coalesce(sum({_POINT_HASH.format(seed=0)}), 0),
       coalesce(sum({_POINT_HASH.format(seed=1)}), 0)
{_QUEUE_POINTS_FROM}"""
).bindparams(
    bindparam("collector", type_=PG_UUID(as_uuid=True)),
    bindparam("kinds", type_=ARRAY(String())),
)

# The first of the ranked ids that no concurrent transaction has locked, locked: concurrent
# `next` calls spread over the candidates instead of queueing behind the top one.
_LOCK_FIRST_FREE = text(
    """
SELECT a.id
FROM account a
JOIN unnest(:ids) WITH ORDINALITY AS r(id, n) ON r.id = a.id
WHERE a.assigned_collector_id = :collector AND a.status = 'active'
  AND NOT EXISTS (SELECT 1 FROM worklist_claim wc
                  WHERE wc.account_id = a.id AND wc.expires_at > :now)
ORDER BY r.n
LIMIT 1
FOR NO KEY UPDATE OF a SKIP LOCKED
"""
).bindparams(
    bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("collector", type_=PG_UUID(as_uuid=True)),
    bindparam("now", type_=DateTime(timezone=True)),
)

_CLAIM = text(
    """
INSERT INTO worklist_claim (account_id, partner_id, collector_id, claimed_at, expires_at)
VALUES (:account_id, :partner_id, :collector_id, :now, :expires_at)
ON CONFLICT (account_id) DO UPDATE
  SET partner_id = excluded.partner_id, collector_id = excluded.collector_id,
      claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
  WHERE worklist_claim.expires_at <= excluded.claimed_at
RETURNING account_id
"""
).bindparams(
    bindparam("account_id", type_=PG_UUID(as_uuid=True)),
    bindparam("partner_id", type_=PG_UUID(as_uuid=True)),
    bindparam("collector_id", type_=PG_UUID(as_uuid=True)),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("expires_at", type_=DateTime(timezone=True)),
)


def _default_weights() -> str:
    """Each country's default stage weights, for partners that never set a strategy."""
    return json.dumps(
        {
            country: {
                stage.value: str(default_for(country)[stage].priority_weight) for stage in Stage
            }
            for country in PACKS
        }
    )


_DEFAULT_WEIGHTS = _default_weights()


# ---------------------------------------------------------------------------------------
# Use cases


def _collector(principal: Principal) -> uuid.UUID:
    if principal.role is not Role.COLLECTOR or principal.user_id is None:
        raise PermissionDenied({"role": principal.role.value})
    return principal.user_id


def channels_for(skills: Iterable[Skill]) -> tuple[ContactChannel, ...]:
    """The channels a collector works from the queue, in the order they are preferred."""
    owned = frozenset(skills)
    chosen: tuple[ContactChannel, ...] = ()
    if Skill.PHONE in owned or not owned:
        chosen += PHONE_CHANNELS
    if Skill.FIELD in owned:
        chosen += FIELD_CHANNELS
    return chosen


async def my_worklist(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    limit: int,
    now: datetime | None = None,
) -> list[WorkItem]:
    """The caller's accounts that may be contacted now, highest priority first."""
    collector = _collector(principal)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return await _allowed(
        session, settings, principal, collector, moment, limit=limit, skip_own=False
    )


async def claim_next(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    now: datetime | None = None,
) -> Claimed | None:
    """Claim the best account that may be contacted now and nobody holds; None if none.

    Walks the queue a batch at a time; within a batch, the allowed accounts in priority
    order are offered to :data:`_LOCK_FIRST_FREE`, which locks the first one no concurrent
    ``next`` is taking (one statement); the claim upsert then takes it unless a claim that
    committed meanwhile still holds it, in which case the following one is tried.

    Within ``worklist_ranking_seconds`` of a ranking this process made for the collector,
    the following accounts of that ranking are handed out instead (:func:`_claim_kept`),
    and a ranking that found nothing open answers None again without a statement."""
    collector = _collector(principal)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    expires = moment + CLAIM_TTL
    channels = channels_for(principal.skills)
    window = settings.worklist_ranking_seconds
    kept = _kept_ranking(collector, channels, moment, window)
    if kept is not None:
        if kept.nothing_open:
            return None
        claimed = await _claim_kept(session, settings, collector, channels, kept, moment, expires)
        if claimed is not None:
            return claimed
        _RANKINGS.pop(collector, None)  # used up: rank again
    workable = await _workable(session, settings, collector, channels, moment)
    if not workable:
        _keep_ranking(collector, _Ranking(channels, moment, time.monotonic(), [], True), window)
        return None
    after_score, after_id = _TOP_SCORE, _NIL
    for _ in range(MAX_ROUNDS):
        rows = await _candidates(
            session, collector, moment, workable, (after_score, after_id), MIN_BATCH, skip_own=True
        )
        # Evaluated a few at a time: the first allowed account of a few is claimed without
        # reading the history and points of the rest of the batch.
        for start in range(0, len(rows), CLAIM_EVALUATED):
            chunk = rows[start : start + CLAIM_EVALUATED]
            found = await _evaluate(session, settings, chunk, channels, moment)
            remaining = [item.account_id for item in _ranked(found)]
            while remaining:
                account_id = await session.scalar(
                    _LOCK_FIRST_FREE, {"ids": remaining, "collector": collector, "now": moment}
                )
                if account_id is None:
                    break  # all taken by concurrent calls: on to the following ones
                remaining.remove(account_id)
                item = next(item for item in found if item.account_id == account_id)
                won = await session.scalar(
                    _CLAIM,
                    {
                        "account_id": item.account_id,
                        "partner_id": item.partner_id,
                        "collector_id": collector,
                        "now": moment,
                        "expires_at": expires,
                    },
                )
                if won is not None:
                    # What follows it: the rest of its few by score, then the batch's
                    # accounts not evaluated yet by pre-score (each checked when its turn
                    # comes).
                    following = [*remaining, *(r["id"] for r in rows[start + CLAIM_EVALUATED :])]
                    ranking = _Ranking(channels, moment, time.monotonic(), following)
                    _keep_ranking(collector, ranking, window)
                    return Claimed(item, expires)
        if len(rows) < MIN_BATCH:
            break
        after_score, after_id = rows[-1]["pre_score"], rows[-1]["id"]
    return None


@dataclass(slots=True)
class _Ranking:
    """A collector's ranking as ``next`` made it: the allowed accounts it has not handed out
    yet, best first (or ``nothing_open``: the pre-filter found no account reachable now)."""

    channels: tuple[ContactChannel, ...]
    ranked_at: datetime  # the app's clock
    ranked_at_monotonic: float  # this process's clock
    following: list[uuid.UUID]
    nothing_open: bool = False


# The last ranking per collector, per process, for worklist_ranking_seconds. Bounded, least
# recently used out.
_RANKINGS: OrderedDict[uuid.UUID, _Ranking] = OrderedDict()
_RANKINGS_MAX = 1024


def _kept_ranking(
    collector: uuid.UUID, channels: tuple[ContactChannel, ...], now: datetime, window: float
) -> _Ranking | None:
    """The collector's ranking if it was made for these channels within ``window`` seconds,
    on the app's clock (which tests and the bench may fix) and on the process's."""
    kept = _RANKINGS.get(collector)
    if kept is None or kept.channels != channels:
        return None
    age = (now - kept.ranked_at).total_seconds()
    if not (0 <= age < window and time.monotonic() - kept.ranked_at_monotonic < window):
        _RANKINGS.pop(collector, None)
        return None
    return kept


def _keep_ranking(collector: uuid.UUID, ranking: _Ranking, window: float) -> None:
    if window <= 0 or not (ranking.following or ranking.nothing_open):
        _RANKINGS.pop(collector, None)
        return
    _RANKINGS[collector] = ranking
    _RANKINGS.move_to_end(collector)
    if len(_RANKINGS) > _RANKINGS_MAX:
        _RANKINGS.popitem(last=False)


async def _claim_kept(
    session: AsyncSession,
    settings: Settings,
    collector: uuid.UUID,
    channels: Sequence[ContactChannel],
    kept: _Ranking,
    now: datetime,
    expires: datetime,
) -> Claimed | None:
    """The first account of a kept ranking that is still the collector's, active, free,
    lockable and allowed by the contact check on what is stored now, claimed; None when the
    ranking has none left (the caller ranks again). Only the order is of a few seconds ago:
    the account's facts, points, history and claim are read afresh, as for a new ranking."""
    while kept.following:
        rows = (
            (
                await session.execute(
                    _CLAIM_FIRST_FREE,
                    {
                        "now": now,
                        "collector": collector,
                        "skip_own": True,
                        "workable": kept.following,
                        "after_score": _TOP_SCORE,
                        "after_id": _NIL,
                        "batch": 1,
                        "default_weights": _DEFAULT_WEIGHTS,
                        "history_since": now - HISTORY_WINDOW,
                        "expires_at": expires,
                    },
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            return None  # the rest was closed, reassigned, claimed or is being taken
        account_id = rows[0]["id"]
        # Out of the kept ranking whatever follows: claimed here, or refused now.
        kept.following = [kept_id for kept_id in kept.following if kept_id != account_id]
        if not rows[0]["won"]:
            continue  # a claim that committed meanwhile holds it
        allowed = await _evaluate(session, settings, rows, channels, now)
        if allowed:
            return Claimed(allowed[0], expires)
        await session.execute(
            _UNCLAIM, {"account_id": account_id, "collector_id": collector, "now": now}
        )
    return None


async def release_claim(
    session: AsyncSession, account_id: uuid.UUID, collector_id: uuid.UUID | None
) -> None:
    """The collector is done with the account (an interaction was recorded): free it."""
    if collector_id is None:
        return
    await session.execute(
        delete(WorklistClaim).where(
            col(WorklistClaim.account_id) == account_id,
            col(WorklistClaim.collector_id) == collector_id,
        )
    )


# ---------------------------------------------------------------------------------------
# The pipeline


async def _allowed(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    collector: uuid.UUID,
    now: datetime,
    *,
    limit: int,
    skip_own: bool,
) -> list[WorkItem]:
    """The top ``limit`` allowed accounts, from as few rounds as give that many."""
    batch = max(MIN_BATCH, min(MAX_BATCH, limit * 3))
    found: list[WorkItem] = []
    async for allowed in _rounds(
        session, settings, principal, collector, now, batch=batch, skip_own=skip_own
    ):
        found.extend(allowed)
        if len(found) >= limit:
            break
    return _ranked(found)[:limit]


def _ranked(items: Iterable[WorkItem]) -> list[WorkItem]:
    return sorted(items, key=lambda item: sort_key(item.priority))


async def _candidates(
    session: AsyncSession,
    collector: uuid.UUID,
    now: datetime,
    account_ids: list[uuid.UUID],
    after: tuple[int, uuid.UUID],
    batch: int,
    *,
    skip_own: bool,
) -> Sequence[RowMapping]:
    """The next ``batch`` of ``account_ids`` by pre-score after ``after`` with their facts
    (:data:`_CANDIDATES`)."""
    result = await session.execute(
        _CANDIDATES,
        {
            "now": now,
            "collector": collector,
            "skip_own": skip_own,
            "workable": account_ids,
            "after_score": after[0],
            "after_id": after[1],
            "batch": batch,
            "default_weights": _DEFAULT_WEIGHTS,
            "history_since": now - HISTORY_WINDOW,
        },
    )
    return result.mappings().all()


async def _rounds(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    collector: uuid.UUID,
    now: datetime,
    *,
    batch: int,
    skip_own: bool,
) -> AsyncIterator[list[WorkItem]]:
    """Per round, the allowed accounts of the next batch by pre-score (unordered), at most
    :data:`MAX_ROUNDS` rounds."""
    channels = channels_for(principal.skills)
    workable = await _workable(session, settings, collector, channels, now)
    if not workable:
        return
    after_score, after_id = _TOP_SCORE, _NIL
    for _ in range(MAX_ROUNDS):
        rows = await _candidates(
            session, collector, now, workable, (after_score, after_id), batch, skip_own=skip_own
        )
        if not rows:
            return
        yield await _evaluate(session, settings, rows, channels, now)
        if len(rows) < batch:
            return
        after_score, after_id = rows[-1]["pre_score"], rows[-1]["id"]


# What a phone places (app.domain.geography.evidence_zones), by its blind index and stored
# zone: the index is a function of the number, so an entry never goes stale (after a key
# rotation the new indexes are new entries). Bounded: emptied when full.
_PHONE_ZONES: dict[tuple[bytes, str | None], frozenset[str]] = {}
_PHONE_ZONES_MAX = 200_000


@functools.lru_cache(maxsize=4096)
def _placed_by(
    kind: str,
    country: str,
    state: str | None,
    municipality: str | None,
    postal_code: str | None,
    time_zone: str | None,
) -> frozenset[str]:
    """What an address or an email places (an email: nobody)."""
    return evidence_zones(
        ZoneEvidence(
            kind=kind,
            country=country,
            state=state,
            municipality=municipality,
            postal_code=postal_code,
            time_zone=time_zone,
        )
    )


def _phone_zones(index: bytes | None, zone: str | None, open_number: Any) -> frozenset[str]:
    """What a phone places, from the cache by its blind index and stored zone, else from the
    number (``open_number()``), remembered."""
    phone = (bytes(index), zone) if index else None
    zones = _PHONE_ZONES.get(phone) if phone is not None else None
    if zones is None:
        zones = evidence_zones(ZoneEvidence(kind="phone", value=open_number(), time_zone=zone))
        if phone is not None:
            if len(_PHONE_ZONES) >= _PHONE_ZONES_MAX:
                _PHONE_ZONES.clear()
            _PHONE_ZONES[phone] = zones
    return zones


# What places one account's debtor for the pre-filter: the partner's country, and each
# usable point's kind with the zones it places (the same for every account read alike).
_Profile = tuple[str, frozenset[tuple[str, frozenset[str]]]]


@dataclass(frozen=True, slots=True)
class _Reading:
    """The pre-filter's reading of a collector's points: the accounts by profile, and the
    fingerprint of the rows it was made from."""

    fingerprint: tuple[int, int, int]
    accounts: dict[_Profile, list[uuid.UUID]]


# The last readings, per process, by collector and point kinds. A reading is used again only
# while the collector's points hash the same (_QUEUE_FINGERPRINT, one row): any point added,
# changed, removed, an account assigned, unassigned, closed, or a partner's country changed
# makes a new fingerprint, and the points are read again. Bounded, least recently used out.
_READINGS: OrderedDict[tuple[uuid.UUID, tuple[str, ...]], _Reading] = OrderedDict()
_READINGS_MAX = 512


def _read(rows: Sequence[Any]) -> _Reading:
    """The reading of ``rows`` (:data:`_QUEUE_POINTS`): what each point places
    (app.domain.geography.evidence_zones, as app.services.contact_check.zones_of_points reads a
    point), a phone's from the cache, opening only the numbers not seen before."""
    sealer = None

    def opener(sealed: bytes) -> Any:
        def open_number() -> str:
            nonlocal sealer
            sealer = sealer or vault.current()
            return sealer.open(bytes(sealed), CONTACT)

        return open_number

    by_account: dict[uuid.UUID, tuple[str, set[tuple[str, frozenset[str]]]]] = {}
    hashes = [0, 0]
    for account_id, _, kind, index, state, town, postal, zone, country, sealed, h0, h1 in rows:
        hashes[0] += h0
        hashes[1] += h1
        if kind == "phone":
            zones = _phone_zones(index, zone, opener(sealed))
        else:
            zones = _placed_by(kind, country, state, town, postal, zone)
        by_account.setdefault(account_id, (country, set()))[1].add((kind, zones))
    accounts: dict[_Profile, list[uuid.UUID]] = {}
    for account_id, (country, points) in by_account.items():
        accounts.setdefault((country, frozenset(points)), []).append(account_id)
    return _Reading((len(rows), hashes[0], hashes[1]), accounts)


def _reachable(
    pack: RulePack,
    profile: _Profile,
    channels: Sequence[ContactChannel],
    all_open: Callable[[RulePack, tuple[str, ...]], bool],
) -> bool:
    """Whether one of ``channels`` might reach, now, a debtor whose points place them as
    ``profile`` says: through a channel the pack does not time, or a timed one through a
    point every candidate zone of which (as :func:`_evaluate_one` reads them: a call's or a
    visit's own point, every point for an email, SMS or WhatsApp) is open under the day and
    hour rules (``all_open``). If not, the contact check refuses every channel and point in
    some zone whatever else holds."""
    country, points = profile
    kinds_here = {kind for kind, _ in points}
    for channel in channels:
        kind = POINT_KIND[channel]
        if kind not in kinds_here:
            continue
        if channel in pack.untimed_channels:
            return True
        if channel in ANYWHERE:
            if all_open(pack, zones_from((z for _, z in points), country)):
                return True
        elif any(all_open(pack, zones_from((z,), country)) for k, z in points if k == kind):
            return True
    return False


async def _workable(
    session: AsyncSession,
    settings: Settings,
    collector: uuid.UUID,
    channels: Sequence[ContactChannel],
    now: datetime,
) -> list[uuid.UUID]:
    """The SQL pre-filter: the collector's active accounts that one of their channels might
    reach now (:func:`_reachable`, whether a zone is open worked out once per country and
    zones). Any other account would be refused in some zone whatever else holds, so it is
    left out before its facts are read: at night the queue reads one statement. The points
    are read again only when their fingerprint changed since this process last read them."""
    kinds = tuple(sorted({POINT_KIND[c] for c in channels}))
    params = {"collector": collector, "kinds": list(kinds)}
    key = (collector, kinds)
    reading = _READINGS.get(key)
    if reading is not None:
        found = (await session.execute(_QUEUE_FINGERPRINT, params)).one()
        if (int(found[0]), int(found[1]), int(found[2])) != reading.fingerprint:
            reading = None
    if reading is None:
        reading = _read((await session.execute(_QUEUE_POINTS, params)).all())
    # Stored again (a concurrent call may have let it go meanwhile), the most recent last.
    _READINGS[key] = reading
    _READINGS.move_to_end(key)
    if len(_READINGS) > _READINGS_MAX:
        _READINGS.popitem(last=False)
    packs: dict[str, RulePack] = {}
    is_open: dict[tuple[str, tuple[str, ...]], bool] = {}

    def all_open(pack: RulePack, zones: tuple[str, ...]) -> bool:
        if (pack.country, zones) not in is_open:
            is_open[pack.country, zones] = all(window_open(pack, z, now) for z in zones)
        return is_open[pack.country, zones]

    workable: list[uuid.UUID] = []
    for profile, account_ids in reading.accounts.items():
        country = profile[0]
        if country not in packs:
            packs[country] = pack_of(settings, country)
        if _reachable(packs[country], profile, channels, all_open):
            workable.extend(account_ids)
    return workable


# The debtor's usable points of a batch's accounts, their values left sealed, each with its
# outbound attempts by local hour (as app/services/contact_points.py counts them for one
# debtor: the batch's interactions on debtor points, not amended), in one statement.
_POINTS = text(
    """
WITH reach AS MATERIALIZED (
  SELECT i.contact_point_id,
         CAST(extract(hour FROM i.started_at AT TIME ZONE coalesce(rp.time_zone, p.time_zone))
              AS integer) AS local_hour,
         count(*) AS attempts,
         count(*) FILTER (WHERE i.result_code = ANY(:rpc_codes)) AS right_party_contacts
  FROM interaction i
  JOIN contact_point rp ON rp.id = i.contact_point_id
  JOIN partner p ON p.id = rp.partner_id
  WHERE i.account_id = ANY(:account_ids)
    AND rp.related_party_id IS NULL
    AND i.direction = 'outbound'
    AND NOT EXISTS (SELECT 1 FROM interaction c WHERE c.amends_id = i.id)
  GROUP BY 1, 2
)
SELECT cp.id, cp.account_id, cp.kind, cp.position, cp.verification_status, cp.is_valid,
       cp.value_masked, cp.value_index, cp.state, cp.municipality, cp.postal_code,
       cp.time_zone, cp.value,
       ARRAY(SELECT r.local_hour FROM reach r WHERE r.contact_point_id = cp.id
             ORDER BY r.local_hour) AS hours,
       ARRAY(SELECT r.attempts FROM reach r WHERE r.contact_point_id = cp.id
             ORDER BY r.local_hour) AS attempts,
       ARRAY(SELECT r.right_party_contacts FROM reach r WHERE r.contact_point_id = cp.id
             ORDER BY r.local_hour) AS right_party_contacts
FROM contact_point cp
WHERE cp.account_id = ANY(:account_ids)
  AND cp.related_party_id IS NULL
  AND cp.kind = ANY(:kinds)
  AND cp.verification_status <> 'invalid'
ORDER BY cp.account_id, cp.position, cp.id
"""
).bindparams(
    bindparam("account_ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("kinds", type_=ARRAY(String())),
    bindparam("rpc_codes", type_=ARRAY(String())),
)


@dataclass(frozen=True, slots=True)
class _Point:
    """A debtor contact point as the queue reads it (:data:`_POINTS`): its value stays sealed,
    opened only to place a phone whose blind index was not seen before."""

    id: uuid.UUID
    account_id: uuid.UUID
    kind: str
    position: int
    verification_status: str
    is_valid: bool
    value_masked: str
    value_index: bytes
    state: str | None
    municipality: str | None
    postal_code: str | None
    time_zone: str | None
    sealed: bytes

    def value(self) -> str:
        return vault.current().open(bytes(self.sealed), CONTACT)


def _zones_of(points: Sequence[_Point], country: str) -> tuple[str, ...]:
    """The candidate zones of a contact through ``points`` (zones_of_points), each point's
    zones as the pre-filter works them out (a phone's remembered by its blind index)."""
    found: list[frozenset[str]] = []
    for point in points:
        if point.kind == "phone":
            found.append(_phone_zones(point.value_index, point.time_zone, point.value))
        else:
            found.append(
                _placed_by(
                    point.kind,
                    country,
                    point.state,
                    point.municipality,
                    point.postal_code,
                    point.time_zone,
                )
            )
    return zones_from(found, country)


async def _evaluate(
    session: AsyncSession,
    settings: Settings,
    rows: Sequence[RowMapping],
    channels: Sequence[ContactChannel],
    now: datetime,
) -> list[WorkItem]:
    """The batch's allowed accounts with their priority and channel (unordered)."""
    account_ids = [r["id"] for r in rows]
    documents = await _documents(session, rows)
    running = await experiments.running_experiments(
        session, {(r["partner_id"], r["stage"]) for r in rows if r["experiment_running"]}
    )
    arm_documents: dict[tuple[uuid.UUID, uuid.UUID], StrategyDocument] = {}
    kinds = sorted({POINT_KIND[c] for c in channels})
    points: defaultdict[uuid.UUID, list[_Point]] = defaultdict(list)
    reach: dict[uuid.UUID, list[HourCount]] = {}
    for *fetched, hours, attempts, rpcs in (
        await session.execute(
            _POINTS,
            {"account_ids": account_ids, "kinds": kinds, "rpc_codes": sorted(RIGHT_PARTY_CODES)},
        )
    ).all():
        point = _Point(*fetched)
        points[point.account_id].append(point)
        reach[point.id] = [
            HourCount(int(h), int(a), int(r)) for h, a, r in zip(hours, attempts, rpcs, strict=True)
        ]
    history = {r["debtor_id"]: _history_of(r) for r in rows}
    pauses = await _pauses(session, [r["id"] for r in rows if r["has_pauses"]])
    packs: dict[str, RulePack] = {}
    items: list[WorkItem] = []
    for row in rows:
        country = row["country"]
        if country not in packs:
            packs[country] = pack_of(settings, country)
        version, document = documents[row["partner_id"]]
        experiment = running.get((row["partner_id"], row["stage"]))
        if experiment is not None:
            # The account's arm decides its strategy (app/services/experiments.py).
            arm = experiment.arm_of(row["id"])
            if (row["partner_id"], arm) not in arm_documents:
                arm_documents[row["partner_id"], arm] = experiment.document_for(arm, document)
            document = arm_documents[row["partner_id"], arm]
        item = _evaluate_one(
            row,
            packs[country],
            version,
            document,
            points.get(row["id"], []),
            reach,
            history.get(row["debtor_id"], ()),
            pauses.get(row["id"], ()),
            channels,
            now,
        )
        if item is not None:
            items.append(item)
    return items


# Strategy documents as parsed, by partner and version: a stored version never changes
# (app/models/strategy.py), so an entry never goes stale. Bounded: emptied when full.
_DOCUMENTS: dict[tuple[uuid.UUID, int], StrategyDocument] = {}
_DOCUMENTS_MAX = 1024


async def _documents(
    session: AsyncSession, rows: Sequence[RowMapping]
) -> dict[uuid.UUID, tuple[int, StrategyDocument]]:
    """The strategy in force for each partner of the batch: one statement for those that
    have one, the country's default for the others."""
    wanted = {(r["partner_id"], r["strategy_version"]) for r in rows}
    found: dict[uuid.UUID, tuple[int, StrategyDocument]] = {}
    for partner_id, version in wanted:
        if (partner_id, version) in _DOCUMENTS:
            found[partner_id] = (version, _DOCUMENTS[partner_id, version])
    stored = [(p, v) for p, v in wanted if v is not None and p not in found]
    if stored:
        for partner_id, version, document in (
            await session.execute(
                select(
                    col(CollectionStrategy.partner_id),
                    col(CollectionStrategy.version),
                    col(CollectionStrategy.document),
                ).where(
                    tuple_(col(CollectionStrategy.partner_id), col(CollectionStrategy.version)).in_(
                        stored
                    )
                )
            )
        ).all():
            parsed = strategy_service.document_from_json(document)
            if len(_DOCUMENTS) >= _DOCUMENTS_MAX:
                _DOCUMENTS.clear()
            _DOCUMENTS[partner_id, version] = parsed
            found[partner_id] = (version, parsed)
    for row in rows:
        if row["partner_id"] not in found:
            found[row["partner_id"]] = (DEFAULT_VERSION, default_for(row["country"]))
    return found


def _history_of(row: RowMapping) -> tuple[PastContact, ...]:
    """The debtor's contacts the rules count (as app/services/contact_check.py reads them for
    one debtor), over all their accounts and partners, as the candidates statement read
    them."""
    if row["history_at"] is None:
        return ()
    return tuple(
        past_contact(started, ContactChannel(channel), party_counted(party), code)
        for started, channel, party, code in zip(
            row["history_at"],
            row["history_channel"],
            row["history_party"],
            row["history_code"],
            strict=True,
        )
    )


async def _pauses(
    session: AsyncSession, account_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[tuple[date, date], ...]]:
    if not account_ids:
        return {}
    found: defaultdict[uuid.UUID, list[tuple[date, date]]] = defaultdict(list)
    for account_id, starts, ends in (
        await session.execute(
            select(
                col(AccountPause.account_id),
                col(AccountPause.starts_on),
                col(AccountPause.ends_on),
            ).where(col(AccountPause.account_id).in_(account_ids))
        )
    ).all():
        found[account_id].append((starts, ends))
    return {account: tuple(spans) for account, spans in found.items()}


def _point_order(point: _Point, reach: Mapping[uuid.UUID, list[HourCount]]) -> tuple[Any, ...]:
    rate = contactability(reach.get(point.id, ())).score
    return (
        point.verification_status != VerificationStatus.VERIFIED,
        -(rate if rate is not None else Decimal("-1")),
        point.position,
        point.id,
    )


def _evaluate_one(
    row: RowMapping,
    pack: RulePack,
    version: int,
    document: StrategyDocument,
    points: Sequence[_Point],
    reach: Mapping[uuid.UUID, list[HourCount]],
    history: tuple[PastContact, ...],
    pauses: tuple[tuple[date, date], ...],
    channels: Sequence[ContactChannel],
    now: datetime,
) -> WorkItem | None:
    stage = Stage(row["stage"])
    entry = document[stage]
    limits = limits_for(document, stage, version)
    flags = frozenset(DebtorFlag(kind) for kind in row["flags"])
    consented: set[ContactChannel] = set()
    opted_out: set[ContactChannel] = set()
    for consent in row["consents"]:
        channel_name, _, status = consent.partition(":")
        (consented if status == "granted" else opted_out).add(ContactChannel(channel_name))
    ordered = sorted(points, key=lambda p: _point_order(p, reach))
    for channel in channels:
        if channel not in entry.channels:
            continue
        for point in ordered:
            if point.kind != POINT_KIND[channel]:
                continue
            # Every zone the debtor may be in, as the contact check reads it; the strictest
            # answer decides, never the partner's clock.
            zones = _zones_of(points_placing(point, channel, points), row["country"])
            local_day = now.astimezone(ZoneInfo(zones[0])).date()
            request = ContactRequest(
                at=now,
                channel=channel,
                party=Party.DEBTOR,
                time_zone=zones[0],
                account_status=row["status"],
                paused=any(start <= local_day <= end for start, end in pauses),
                flags=flags | age_flags(row["debtor_birth_date"], local_day),
                consented_channels=frozenset(consented) or None,
                opted_out_channels=frozenset(opted_out),
                history=history,
                strategy=limits,
                contact_point_valid=point.is_valid,
            )
            decision = strictest(
                [check_contact(pack, replace(request, time_zone=zone)) for zone in zones]
            )
            if decision.allowed:
                return _item(
                    row, entry.priority_weight, point, reach, channel, decision.time_zone, now
                )
    return None


def _item(
    row: RowMapping,
    weight: Decimal,
    point: _Point,
    reach: Mapping[uuid.UUID, list[HourCount]],
    channel: ContactChannel,
    zone: str,
    now: datetime,
) -> WorkItem:
    last: datetime | None = row["last_contact"]
    reached = contactability(reach.get(point.id, ()))
    # Best hours are counted in the point's zone or the partner's (contact_points.py).
    hour_zone = point.time_zone or row["partner_zone"]
    priority = score_account(
        PriorityFacts(
            account_id=row["id"],
            balance=row["total"],
            stage_weight=weight,
            promise_due_today=row["due_today"],
            promise_broken=row["broken"],
            days_since_contact=None if last is None else max(0, (now - last) // _DAY),
            contactability=reached.score,
            best_hour=reached.best_hour,
            local_hour=now.astimezone(ZoneInfo(hour_zone)).hour,
            callback_due_at=row["callback_due_at"],
        )
    )
    return WorkItem(
        account_id=row["id"],
        partner_id=row["partner_id"],
        external_ref=row["external_ref"],
        debtor_name=f"{row['debtor_first_names']} {row['debtor_last_names']}",
        stage=row["stage"],
        dpd=row["dpd"],
        currency=row["currency"],
        total=row["total"],
        past_due_amount=row["past_due_amount"],
        priority=priority,
        channel=ChannelChoice(
            channel=channel,
            contact_point_id=point.id,
            kind=point.kind,
            value_masked=point.value_masked,
            time_zone=zone,
            local_time=now.astimezone(ZoneInfo(zone)),
        ),
        claimed_until=row["claimed_until"],
    )
