"""Debtor flags: which accounts a flag reaches, who may know of it, and how a contact check
names a flag that was raised through another account.

A debtor is one person across the agency (matched by national id), but every flag is raised
*through one account* (an interaction's result on it, or staff acting on it), so it belongs
to that account's creditor. What a creditor may know (DESIGN.md, 2026-12-05): a partner
system sees only the flags raised through its own accounts, by every route; staff see the
flags that reach an account they may see, which is the agency's knowledge within their
assignments.

How far a flag reaches, per kind (:data:`REACH`):

=============  ========  ================================================================
kind           reach     why
=============  ========  ================================================================
dispute        account   A dispute is about one debt. US: FDCPA §809(b) (15 U.S.C. 1692g(b))
                         and 12 CFR 1006.34(c)(3) stop collecting *the disputed debt* until
                         it is verified. MX: an aclaración is about the charges of one
                         contract (LTOSF art. 23: the client need not pay the amount under
                         clarification while it is resolved). Another debt of the same
                         person is not disputed by it.
cease_contact  creditor  US: 12 CFR 1006.6(c)(1) binds the collector "with respect to
                         [the] debt", per debt. CO: Ley 2300 de 2023 arts. 2-3 tie the
                         channels a consumer authorises to the entity that collects, so a
                         withdrawal binds that creditor. MX: the CONDUSEF rules for
                         collection agencies (LTOSF art. 17 Bis 4) give no cease right; the
                         agency honours the request for the creditor it was made to. We
                         widen the law's per-debt reach to every account of the same
                         creditor (the person told *that* creditor's collector to stop),
                         never to other creditors, whose lawful collection it does not
                         bind.
deceased       agency    Safety and dignity, not a collection rule: the agency must not call
                         a dead person's number or write to them for any creditor; each
                         creditor deals with the estate (Reg F's "consumer" includes the
                         executor, 12 CFR 1006.2(e), 1006.6(a)(4)).
attorney       agency    US: 12 CFR 1006.6(b)(2) forbids communicating with a consumer "if
                         the debt collector knows the consumer is represented by an attorney
                         with respect to such debt": per debt in law. MX, CO and the rest
                         have no such rule in their collection law. Agency policy, every
                         country: a person who told one of our collectors to speak to their
                         lawyer is not called about another debt behind that lawyer's back,
                         since to the person the agency is one caller; the agency cannot
                         tell from its records whether the mandate covers one debt or all.
                         Stricter than the US rule, which a pack may always be. Where the
                         mandate is limited to one debt, a manager clears the flag and a
                         lead raises it again on that account.
insolvency     agency    A proceeding binds every creditor: MX Ley de Concursos Mercantiles
                         art. 65 (no enforcement against the estate once declared), CO
                         Código General del Proceso art. 545 (persona natural no
                         comerciante), US 11 U.S.C. 362(a)(6) (automatic stay).
minor          agency    A fact about the person: CONDUSEF rules bar collection with minors;
older_adult    agency    the age of the person is the same for every creditor.
vulnerable     agency    A care note (illness, disability, hardship): no effect on contact,
                         shown to the staff of every creditor's accounts.
=============  ========  ================================================================

A flag recorded before flags kept their account, whose account the migration could not
tell (``account_id`` null), reaches every account (as it did) and is staff knowledge only.

In a contact check (:func:`check_with_flags`) a flag raised through the checked account
speaks as the country's pack says (law with its citation where the pack cites one). A flag
that reaches the account from elsewhere is the agency's *policy* even where the same flag
on its own debt is law (Reg F is per debt):

- from another account of the same creditor: the flag's own reason code, its message
  saying where it came from;
- from another creditor's account (or of unknown origin): the one code
  :data:`AGENCY_SAFETY_FLAG`, so that nothing kept on the checked account (an interaction's
  verdict, which its partner reads) names what another creditor's account brought; the
  message names the flag for the staff who run the check (partners do not run checks).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from app.domain.contact_check import ContactRequest, Decision, Reason, RulePack, check_contact
from app.domain.contact_check_packs import DebtorFlag
from app.i18n import N_, Message

__all__ = [
    "AGENCY_SAFETY_FLAG",
    "REACH",
    "FlagsOnAccount",
    "Origin",
    "RaisedFlag",
    "Reach",
    "check_contact_with_flags",
    "check_with_flags",
    "flags_on",
    "kinds_reaching",
    "origin",
    "reaches",
    "visible_to_partner",
    "visible_to_staff",
]

AGENCY_SAFETY_FLAG = "agency_safety_flag"


class Reach(StrEnum):
    """The accounts of the debtor a flag applies to."""

    ACCOUNT = "account"  # the account it was raised through (one debt)
    CREDITOR = "creditor"  # every account of the debtor with that account's partner
    AGENCY = "agency"  # every account of the debtor, every partner


REACH: Mapping[DebtorFlag, Reach] = {
    DebtorFlag.DISPUTE: Reach.ACCOUNT,
    DebtorFlag.CEASE_CONTACT: Reach.CREDITOR,
    DebtorFlag.DECEASED: Reach.AGENCY,
    DebtorFlag.ATTORNEY: Reach.AGENCY,
    DebtorFlag.INSOLVENCY: Reach.AGENCY,
    DebtorFlag.MINOR: Reach.AGENCY,
    DebtorFlag.OLDER_ADULT: Reach.AGENCY,
    DebtorFlag.VULNERABLE: Reach.AGENCY,
}


def kinds_reaching(reach: Reach) -> frozenset[DebtorFlag]:
    return frozenset(kind for kind, found in REACH.items() if found is reach)


@dataclass(frozen=True, slots=True)
class RaisedFlag:
    """A standing flag and the account (and so the partner) it was raised through; both None
    for a flag older than that record whose account could not be told."""

    kind: DebtorFlag
    account_id: uuid.UUID | None
    partner_id: uuid.UUID | None


class Origin(StrEnum):
    """Where a flag that reaches an account came from, seen from that account."""

    THIS_ACCOUNT = "this_account"
    SAME_CREDITOR = "same_creditor"  # another account of the same partner
    ELSEWHERE = "elsewhere"  # another partner's account, or unknown


def origin(flag: RaisedFlag, account_id: uuid.UUID, partner_id: uuid.UUID) -> Origin:
    if flag.account_id == account_id:
        return Origin.THIS_ACCOUNT
    if flag.partner_id is not None and flag.partner_id == partner_id:
        return Origin.SAME_CREDITOR
    return Origin.ELSEWHERE


def reaches(flag: RaisedFlag, account_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
    """Whether ``flag`` applies to the debtor's account ``account_id`` of ``partner_id``."""
    if flag.account_id is None or flag.account_id == account_id:
        return True
    reach = REACH[flag.kind]
    if reach is Reach.AGENCY:
        return True
    return reach is Reach.CREDITOR and flag.partner_id == partner_id


def visible_to_partner(flag: RaisedFlag, partner_id: uuid.UUID) -> bool:
    """A partner system knows only what came through its own accounts."""
    return flag.partner_id is not None and flag.partner_id == partner_id


def visible_to_staff(flag: RaisedFlag, accounts: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> bool:
    """Staff know a flag that reaches one of the (account, partner) pairs they may see."""
    return any(reaches(flag, account, partner) for account, partner in accounts)


@dataclass(frozen=True, slots=True)
class FlagsOnAccount:
    """The kinds of the standing flags that reach one account, by where they came from."""

    own: frozenset[DebtorFlag] = frozenset()
    creditor: frozenset[DebtorFlag] = frozenset()  # another account of the same partner
    elsewhere: frozenset[DebtorFlag] = frozenset()  # another partner's account, or unknown

    @property
    def every(self) -> frozenset[DebtorFlag]:
        return self.own | self.creditor | self.elsewhere


def flags_on(
    account_id: uuid.UUID, partner_id: uuid.UUID, flags: Iterable[RaisedFlag]
) -> FlagsOnAccount:
    found: dict[Origin, set[DebtorFlag]] = {o: set() for o in Origin}
    for flag in flags:
        if reaches(flag, account_id, partner_id):
            found[origin(flag, account_id, partner_id)].add(flag.kind)
    return FlagsOnAccount(
        own=frozenset(found[Origin.THIS_ACCOUNT]),
        creditor=frozenset(found[Origin.SAME_CREDITOR]),
        elsewhere=frozenset(found[Origin.ELSEWHERE]),
    )


def check_with_flags(
    check: Callable[[frozenset[DebtorFlag]], Decision],
    base: frozenset[DebtorFlag],
    flags: FlagsOnAccount,
) -> Decision:
    """The contact check with every flag that reaches the account, each reason named as its
    origin allows.

    ``check`` runs the pack's rules with a set of flags; ``base`` holds what the checked
    account itself says (its own flags, the age its birth date gives). The answer (allowed,
    next time) is the check with every flag; a reason that only the creditor's other
    accounts add, or only other creditors' accounts add, is replaced by the agency's policy
    reason for it (module docstring)."""
    own = check(base)
    if not flags.creditor and not flags.elsewhere:
        return own
    with_creditor = check(base | flags.creditor) if flags.creditor else own
    every = check(base | flags.creditor | flags.elsewhere) if flags.elsewhere else with_creditor
    known = {r.code: r for r in own.reasons}
    from_creditor = {r.code: r for r in with_creditor.reasons}
    reasons: list[Reason] = []
    foreign: list[Reason] = []
    place = 0
    for reason in every.reasons:
        if reason.code in known:
            reasons.append(known[reason.code])
        elif reason.code in from_creditor:
            reasons.append(_creditor_reason(reason))
        else:
            if not foreign:
                place = len(reasons)  # where the agency's one reason goes
            foreign.append(reason)
    if foreign:
        reasons.insert(place, _agency_reason(foreign))
    return replace(every, reasons=tuple(reasons))


def check_contact_with_flags(
    pack: RulePack, request: ContactRequest, flags: FlagsOnAccount
) -> Decision:
    """:func:`app.domain.contact_check.check_contact` of ``request`` (whose ``flags`` are the
    checked account's own) with the flags that reach it from the debtor's other accounts."""

    def check(found: frozenset[DebtorFlag]) -> Decision:
        return check_contact(pack, replace(request, flags=found))

    return check_with_flags(check, request.flags, flags)


def _creditor_reason(reason: Reason) -> Reason:
    # Built anew: the law's label and citation of the flag's own debt do not carry over.
    return Reason(
        reason.code,
        Message(
            N_(
                "{reason} (Recorded on another account of this creditor; the agency applies it "
                "to every account of the creditor: policy.)"
            ),
            {"reason": reason.text},
        ),
        reason.hard,
    )


def _agency_reason(reasons: list[Reason]) -> Reason:
    """One reason for every flag another creditor's accounts brought: its code says nothing
    of them; its message, for the staff running the check, does."""
    keys = [f"reason{index}" for index in range(len(reasons))]
    return Reason(
        AGENCY_SAFETY_FLAG,
        Message(
            N_(
                "Do not contact: agency safety flag. {reasons} (Recorded through another "
                "creditor's account; the agency applies it for every creditor: policy.)"
            ),
            {
                "reasons": Message(
                    " ".join("{" + key + "}" for key in keys),
                    {key: r.text for key, r in zip(keys, reasons, strict=True)},
                )
            },
        ),
        any(r.hard for r in reasons),
    )
