"""The payment agreement ("convenio de pago") of a plan: issued once, the same ever after.

Load → :class:`app.domain.agreements.AgreementFacts` → :func:`agreement_text` → PDF.

Choices made here:

- The first download issues the agreement: its facts (the parties, the amounts, the
  schedule, how to pay, the agency from the settings) are gathered then and stored on the
  plan as JSON (``agreement_facts``) with the PDF's SHA-256 (``agreement_sha256``), and
  audited. Every later download draws the stored facts again, so a creditor renamed, a
  debtor's name corrected or new bank details in the settings never change an agreement
  already issued: the same plan gives the same bytes. (A plan issued before facts were kept
  is issued anew on its next download, its new hash audited with the old one.)
- The PDF is drawn with fpdf2's core fonts (Helvetica, latin-1: every Spanish letter; other
  characters replaced by :func:`app.domain.agreements.printable`, never an error) and its
  creation date is the signing moment, so drawing the same facts gives the same bytes. A
  later download whose bytes differ from the stored hash (fpdf2 or Babel upgraded) is
  logged; ``tests/domain/test_agreements.py`` pins the bytes of a fixed agreement so such
  an upgrade is seen before it ships.
- It is available once the plan is active (or completed, broken, or cancelled after its
  agreement was issued).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog
from fpdf import FPDF
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.domain.agreements import (
    Agency,
    AgreementFacts,
    AgreementText,
    PaymentAccount,
    agreement_text,
    obligations_of,
    printable,
)
from app.domain.errors import AgreementNotIssuable, PermissionDenied
from app.domain.payment_rails import PaymentInstructions
from app.domain.payments import payment_reference
from app.domain.plans import PlanStatus
from app.models.account import Account
from app.models.debtor import Debtor
from app.models.partner import Partner
from app.models.plan import PaymentPlan, PlanInstallment
from app.security import Principal
from app.services import audit, payment_rails
from app.services.plans import READERS, installments_of, lock_plan

log = structlog.get_logger("cartera.agreements")

# Statuses whose agreement may be issued; a cancelled plan only if it was issued before.
ISSUABLE = frozenset({PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.BROKEN})

_FACTS = TypeAdapter(AgreementFacts)


@dataclass(frozen=True, slots=True)
class Agreement:
    pdf: bytes
    sha256: str
    folio: str


def agency_of(settings: Settings) -> Agency:
    return Agency(settings.agency_legal_name, settings.agency_redeco_number)


def gather_facts(
    agency: Agency,
    plan: PaymentPlan,
    installments: list[PlanInstallment],
    account: Account,
    partner: Partner,
    debtor: Debtor,
    rails: PaymentInstructions | None = None,
) -> AgreementFacts:
    """What the agreement states, as things stand now (the first time it is issued)."""
    signed_at = plan.decided_at or plan.created_at
    assert account.payment_serial is not None
    return AgreementFacts(
        plan_id=plan.id,
        plan_type=plan.plan_type,
        country=partner.country,
        currency=plan.currency,
        signed_at=signed_at.astimezone(UTC),
        signed_on=signed_at.astimezone(ZoneInfo(partner.time_zone)).date(),
        creditor_legal_name=partner.legal_name,
        creditor_tax_id=partner.tax_id,
        agency_legal_name=agency.legal_name,
        agency_redeco_number=agency.redeco_number,
        debtor_name=f"{account.debtor_first_names} {account.debtor_last_names}".strip(),
        debtor_national_id_masked=debtor.national_id_masked,
        account_ref=account.external_ref,
        payment_reference=payment_reference(account.payment_serial),
        covered_debt=plan.agreed_total - plan.interest_total + plan.forgiven,
        forgiven=plan.forgiven,
        interest_total=plan.interest_total,
        agreed_total=plan.agreed_total,
        down_payment=plan.down_payment,
        obligations=obligations_of([(i.number, i.due_date, i.amount) for i in installments]),
        missed_installments_to_break=plan.missed_installments_to_break,
        days_late_to_break=plan.days_late_to_break,
        payment_account=PaymentAccount(
            bank_name=partner.payment_bank_name,
            clabe=partner.payment_clabe,
            account_holder=partner.payment_account_holder,
            cash_stores=partner.payment_cash_stores,
        ),
        account_clabe=None if rails is None else rails.clabe,
        account_clabe_bank=None if rails is None else rails.bank_name,
        store_reference=None if rails is None else rails.store_reference,
    )


def facts_to_json(facts: AgreementFacts) -> dict[str, object]:
    dumped: dict[str, object] = _FACTS.dump_python(facts, mode="json")
    return dumped


def facts_from_json(stored: dict[str, object]) -> AgreementFacts:
    return _FACTS.validate_python(stored)


# --- the PDF ------------------------------------------------------------------------------


def render(text: AgreementText, created: datetime) -> bytes:
    """Draw the agreement's text on Letter pages; the same text and date give the same
    bytes. Every string goes through :func:`printable` (the core fonts' latin-1)."""
    pdf = FPDF(format="Letter")
    pdf.set_creation_date(created)
    pdf.set_title(printable(text.document_title))
    pdf.set_author(printable(text.author))
    pdf.set_creator("Cartera")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def para(line: str, size: int = 10, style: str = "", height: float = 5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, height, printable(line), align="L", new_x="LMARGIN", new_y="NEXT")

    para(text.title, 16, "B", 9)
    for line in text.subtitle:
        para(line, 9)
    for section in text.sections:
        pdf.ln(3)
        para(section.heading, 11, "B", 7)
        for line in section.paragraphs:
            para(line)
        if section.table is not None:
            table = section.table
            pdf.set_font("Helvetica", "B", 10)
            for title, share in zip(table.header, table.widths, strict=True):
                pdf.cell(width * share, 6, printable(title), border=1)
            pdf.ln()
            pdf.set_font("Helvetica", "", 10)
            for row in table.rows:
                for cell, share in zip(row, table.widths, strict=True):
                    pdf.cell(width * share, 6, printable(cell), border=1)
                pdf.ln()
    pdf.ln(14)
    half = width / 2
    pdf.set_font("Helvetica", "", 10)
    for _name, _role in text.signatures:
        pdf.cell(half, 5, "_" * 34)
    pdf.ln()
    for name, _role in text.signatures:
        pdf.cell(half, 5, printable(name)[:60])
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for _name, role in text.signatures:
        pdf.cell(half, 4, printable(role))
    pdf.ln()
    return bytes(pdf.output())


def draw(facts: AgreementFacts) -> bytes:
    return render(agreement_text(facts), facts.signed_at)


# --- the use case -------------------------------------------------------------------------


async def plan_agreement(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    agency: Agency,
    *,
    now: datetime | None = None,
) -> Agreement:
    """The plan's agreement PDF: issued (facts and SHA-256 stored on the plan, audited) the
    first time, naming ``agency``; drawn again from the stored facts every time after."""
    if principal.role not in READERS:
        raise PermissionDenied({"role": principal.role.value})
    plan = await lock_plan(session, principal, plan_id)
    return await agreement_of(session, principal, plan, agency, now=now)


async def agreement_of(
    session: AsyncSession,
    actor: audit.Actor,
    plan: PaymentPlan,
    agency: Agency,
    *,
    now: datetime | None = None,
) -> Agreement:
    """The agreement of a plan the caller may read and has locked (staff through
    :func:`plan_agreement`, the debtor through the portal's own account)."""
    issued = plan.agreement_sha256 is not None
    status = plan.status
    if status not in ISSUABLE and not (status is PlanStatus.CANCELLED and issued):
        raise AgreementNotIssuable(plan.status)
    if plan.agreement_facts is not None:
        facts = facts_from_json(plan.agreement_facts)
        pdf = draw(facts)
        digest = hashlib.sha256(pdf).hexdigest()
        if digest != plan.agreement_sha256:
            # Ids only: the agreement is personal data.
            log.error(
                "agreement drawn with other bytes than issued",
                plan_id=str(plan.id),
                issued_sha256=plan.agreement_sha256,
                drawn_sha256=digest,
            )
        return Agreement(pdf, digest, facts.folio)

    account = await session.get_one(Account, plan.account_id)
    partner = await session.get_one(Partner, plan.partner_id)
    debtor = await session.get_one(Debtor, account.debtor_id)
    installments = await installments_of(session, [plan.id])
    rails = payment_rails.instructions_of(account, partner, get_settings())
    facts = gather_facts(agency, plan, installments, account, partner, debtor, rails)
    pdf = draw(facts)
    digest = hashlib.sha256(pdf).hexdigest()
    before = None if plan.agreement_sha256 is None else {"agreement_sha256": plan.agreement_sha256}
    plan.agreement_facts = facts_to_json(facts)
    plan.agreement_sha256 = digest
    plan.version += 1
    plan.updated_at = now or datetime.now(UTC)
    session.add(plan)
    await session.flush()
    await audit.record(
        session, actor, "plan.agreement", "payment_plan", plan.id,
        before=before, after={"agreement_sha256": digest, "folio": facts.folio}, now=now,
    )  # fmt: skip
    return Agreement(pdf, digest, facts.folio)
