"""Consent has provenance: which channels the debtor authorised or closed, where that word
came from, and what proves it (DESIGN.md, decisions of 2026-12-05).

Rules (pure; the service loads the evidence and passes what it found):

- A consent (``granted``) names its evidence: the partner's own record (``partner_file``,
  with the partner's reference; only the partner's system, through intake or the consent
  API), a right-party contact in which the debtor gave it (``debtor_in_interaction``: an
  interaction of the same account that reached the debtor), or a document of the account
  the debtor signed (``signed_document``; a team lead or manager files it). A collector
  records consent only from an interaction, never free-standing. Colombia contacts only
  through channels the consumer authorised (Ley 2300 de 2023, art. 2), so there the
  evidence is what makes a channel usable at all.
- A revocation (``opted_out``) takes effect at once and needs no evidence beyond who
  recorded it (``debtor_request``); it may also name the interaction it came from.
- A consent older than the debtor's last revocation of the channel does not undo it: the
  later word stands. Lifting an opt-out is for someone who answers for it (not a
  collector).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.roles import Role
from app.i18n import N_


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    OPTED_OUT = "opted_out"


class ConsentSource(StrEnum):
    PARTNER_FILE = "partner_file"
    DEBTOR_IN_INTERACTION = "debtor_in_interaction"
    SIGNED_DOCUMENT = "signed_document"
    DEBTOR_REQUEST = "debtor_request"  # a revocation, no evidence needed
    # The debtor in the self-service portal: the portal interaction is the evidence.
    PORTAL = "portal"
    UNRECORDED = "unrecorded"  # stored before provenance was kept


# Who may state each source.
_SOURCES_BY_ROLE: dict[Role, frozenset[ConsentSource]] = {
    Role.PARTNER: frozenset({ConsentSource.PARTNER_FILE}),
    Role.COLLECTOR: frozenset({ConsentSource.DEBTOR_IN_INTERACTION, ConsentSource.DEBTOR_REQUEST}),
    Role.TEAM_LEAD: frozenset(
        {
            ConsentSource.DEBTOR_IN_INTERACTION,
            ConsentSource.SIGNED_DOCUMENT,
            ConsentSource.DEBTOR_REQUEST,
        }
    ),
}
_SOURCES_BY_ROLE[Role.MANAGER] = _SOURCES_BY_ROLE[Role.TEAM_LEAD]
_SOURCES_BY_ROLE[Role.ADMIN] = _SOURCES_BY_ROLE[Role.TEAM_LEAD]
RECORDERS = frozenset(_SOURCES_BY_ROLE)
# Documents a debtor signs or sends: what may prove a consent.
EVIDENCE_DOCUMENT_KINDS = frozenset({"signed_agreement", "correspondence", "other"})


@dataclass(frozen=True, slots=True)
class EvidenceInteraction:
    """What the consent's interaction was, as found on the account (None: not found)."""

    party: str
    result_code: str
    direction: str
    started_at: datetime
    corrected: bool


@dataclass(frozen=True, slots=True)
class ConsentClaim:
    role: Role
    status: ConsentStatus
    source: ConsentSource | None  # None: the default for the status and role
    interaction_id: object | None
    document_id: object | None
    partner_reference: str | None


def source_of(claim: ConsentClaim) -> ConsentSource:
    """The source the claim states, or the only one it can mean; refuses what its recorder
    may not state (403) and what lacks its evidence (422, naming the field)."""
    source = claim.source
    if source is None:
        if claim.role is Role.PARTNER:
            source = ConsentSource.PARTNER_FILE
        elif claim.interaction_id is not None:
            source = ConsentSource.DEBTOR_IN_INTERACTION
        elif claim.document_id is not None:
            source = ConsentSource.SIGNED_DOCUMENT
        elif claim.status is ConsentStatus.OPTED_OUT:
            source = ConsentSource.DEBTOR_REQUEST
        else:
            raise InvalidInput(
                "interaction_id",
                N_("a consent names its evidence: the interaction in which the debtor gave it")
                if claim.role is Role.COLLECTOR
                else N_(
                    "a consent names its evidence: the interaction in which the debtor gave it, "
                    "or the signed document"
                ),
            )
    if source not in _SOURCES_BY_ROLE.get(claim.role, frozenset()):
        raise PermissionDenied({"role": claim.role.value, "source": source.value})
    if source is ConsentSource.DEBTOR_REQUEST and claim.status is ConsentStatus.GRANTED:
        raise InvalidInput("source", N_("debtor_request revokes; a consent names its evidence"))
    if source is ConsentSource.DEBTOR_IN_INTERACTION and claim.interaction_id is None:
        raise InvalidInput("interaction_id", N_("required with debtor_in_interaction"))
    if source is ConsentSource.SIGNED_DOCUMENT and claim.document_id is None:
        raise InvalidInput("document_id", N_("required with signed_document"))
    if (
        source is ConsentSource.PARTNER_FILE
        and claim.status is ConsentStatus.GRANTED
        and not claim.partner_reference
    ):
        raise InvalidInput("partner_reference", N_("a partner's consent names its record"))
    return source


def check_interaction_evidence(found: EvidenceInteraction | None, status: ConsentStatus) -> None:
    """A consent from an interaction: one of this account's, that reached the debtor in a
    right-party contact (a revocation may come from any contact with the debtor), and not
    since replaced by a correction."""
    if found is None:
        raise InvalidInput("interaction_id", N_("not an interaction of this account"))
    if found.corrected:
        raise InvalidInput("interaction_id", N_("that interaction was corrected; name the fix"))
    if found.party != "debtor":
        raise InvalidInput("interaction_id", N_("the interaction did not reach the debtor"))
    if status is ConsentStatus.GRANTED and found.result_code not in RIGHT_PARTY_CODES:
        raise InvalidInput(
            "interaction_id", N_("consent is given in a right-party contact (RPC results)")
        )


def check_not_older_than_revocation(
    given_at: datetime, current_status: str | None, current_given_at: datetime | None
) -> None:
    """The debtor's later word stands: a consent given before their last revocation of the
    channel does not undo it."""
    if (
        current_status == ConsentStatus.OPTED_OUT.value
        and current_given_at is not None
        and given_at < current_given_at
    ):
        raise InvalidInput(
            "interaction_id", N_("the debtor revoked this channel after giving that consent")
        )


def may_lift_opt_out(role: Role) -> bool:
    """The debtor's "no" is lifted only by someone who answers for it (or the creditor's own
    record of a new authorisation)."""
    return role is not Role.COLLECTOR
