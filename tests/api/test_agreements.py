"""The payment agreement (convenio de pago) through the API: what the PDF states, that it
draws (a page rendered to pixels), that any debtor name draws, and that an issued agreement
keeps its bytes whatever changes after."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from sqlmodel import col, select

from app.domain.agreements import folio, format_date, format_money
from app.domain.payments import payment_reference
from app.models.audit import AuditEvent
from app.models.partner import Partner
from app.models.plan import PaymentPlan
from tests.factories import assert_problem, make_account, make_debtor
from tests.helpers.agreements import download, pdf_text

# The plans' desk: a Mexican partner, a collector and their lead, a manager, an auditor.
from tests.helpers.plans import (
    act,
    audited,
    propose,
)


@pytest.fixture
def desk(plans_desk):
    """The plans desk: a Mexican partner, a collector and their lead, a manager, an auditor."""
    return plans_desk


CLABE = "032180000118359719"


async def give_payment_account(client, desk) -> None:
    response = await client.patch(
        f"/api/v1/partners/{desk['partner'].id}",
        json={"payment_bank_name": "BBVA México", "payment_clabe": CLABE,
              "payment_cash_stores": "OXXO"},
        headers=desk["manager"],
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["payment_clabe"] == CLABE


class TestWhatTheAgreementStates:
    async def test_every_item_a_debtor_needs(self, client, desk, session):
        await give_payment_account(client, desk)
        # 10,000 less 30% = 7,000; 1,400 down; 5,600 in three: 1,866.67 twice and 1,866.66.
        plan = (await propose(client, desk, installments=3, down_payment="1400.00")).json()
        assert plan["status"] == "active", plan
        response = await download(client, desk, plan["id"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        digest = hashlib.sha256(response.content).hexdigest()
        assert response.headers["X-Agreement-SHA256"] == digest

        partner: Partner = desk["partner"]
        account = desk["small"]
        signed_on = datetime.fromisoformat(plan["created_at"]).astimezone(
            ZoneInfo(partner.time_zone)
        )
        expected_folio = folio(partner.legal_name, signed_on.date(), uuid.UUID(plan["id"]))
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="{expected_folio}.pdf"'
        text = pdf_text(response.content)
        down, *installments = plan["schedule"]
        assert down["number"] == 0
        for expected in (
            "CONVENIO DE PAGO",
            f"Folio: {expected_folio}",
            # The creditor and the agency with its REDECO number (the settings' defaults).
            f"Acreedor: {partner.legal_name}, RFC {partner.tax_id}.",
            "Despacho de cobranza: Despacho Demostración de Cobranza, S.C.",
            "(REDECO) de la CONDUSEF con el número DEMO-0000",
            f"Cuenta: {account.external_ref}.",
            # The debt, what is forgiven, the down payment and its date.
            "Adeudo que cubre este convenio: $10,000.00 MXN.",
            "Descuento (quita) que otorga el acreedor: $3,000.00 MXN.",
            "Total a pagar: $7,000.00 MXN.",
            "Pago inicial (enganche): $1,400.00 MXN, a más tardar el "
            + format_date(datetime.fromisoformat(down["due_date"]).date()),
            # How and where to pay.
            f"Referencia de pago de su cuenta: {payment_reference(account.payment_serial)}.",
            f"CLABE {CLABE} de BBVA México, a nombre de {partner.legal_name}",
            "En efectivo en OXXO",
            "nunca a la agencia de cobranza",
            # The breaking rule and what follows.
            "quedan sin pagar 2 parcialidades vencidas",
            "más de 30 días de atraso",
            "el descuento (quita) deja de aplicar",
            f"Fecha de firma: {format_date(signed_on.date())}.",
        ):
            assert expected in text, expected
        for installment in installments:
            due = format_date(datetime.fromisoformat(installment["due_date"]).date())
            amount = format_money(Decimal(installment["amount"]), "MXN")
            assert f"{installment['number']} {due} {amount}" in text, installment
        assert "$1,866.66 MXN" in text
        assert account.debtor_first_names in text

    async def test_an_approved_plan_is_signed_on_the_day_it_was_approved(self, client, desk):
        plan = (await propose(client, desk, discount_pct="45")).json()
        assert plan["status"] == "pending_approval"
        assert (await download(client, desk, plan["id"])).status_code == 409
        approved = await act(client, desk, plan["id"], "approve", "manager")
        assert approved.status_code == 200, approved.text
        decided = datetime.fromisoformat(approved.json()["decided_at"])
        signed_on = decided.astimezone(ZoneInfo(desk["partner"].time_zone)).date()
        text = pdf_text((await download(client, desk, plan["id"])).content)
        assert f"Fecha de firma: {format_date(signed_on)}." in text
        assert f"-{signed_on.year}-{plan['id'].replace('-', '')[-10:].upper()}" in text

    async def test_without_a_payment_account_the_creditors_accounts_never_the_agencys(
        self, client, desk
    ):
        plan = (await propose(client, desk)).json()
        text = pdf_text((await download(client, desk, plan["id"])).content)
        # No creditor's CLABE to quote: only the account's own referenced CLABE (Mexico's
        # rails, app/domain/payment_rails.py), in the creditor's name.
        assert "depósito a la CLABE" not in text
        assert "CLABE de su cuenta" in text
        assert f"En las cuentas de {desk['partner'].legal_name} que el acreedor le indique" in text
        assert "nunca a la agencia de cobranza" in text

    async def test_page_one_draws(self, client, desk):
        plan = (await propose(client, desk, installments=3, down_payment="1400.00")).json()
        content = (await download(client, desk, plan["id"])).content
        document = pypdfium2.PdfDocument(content)
        try:
            image = document[0].render(scale=1).to_pil().convert("L")
        finally:
            document.close()
        # A Letter page at 72 dpi, mostly white paper with text and table lines on it.
        assert image.size == (612, 792)
        histogram = image.histogram()
        dark = sum(histogram[:128]) / (image.size[0] * image.size[1])
        assert 0.005 < dark < 0.25, dark


class TestAnyNameDraws:
    @pytest.mark.parametrize(
        ("first_names", "last_names", "drawn"),
        [
            ("Ana 😀", "王 Pérez", "Ana ? ? Pérez"),
            ("Łukasz", "Şahin Ñúñez", "Lukasz Sahin Ñúñez"),
        ],
    )
    async def test_characters_latin1_lacks_are_replaced(
        self, client, desk, session, first_names, last_names, drawn
    ):
        debtor = await make_debtor(session, first_names=first_names, last_names=last_names)
        account = await make_account(
            session, desk["partner"], debtor, dpd=120, stage="nonaccrual",
            principal=Decimal("10000.00"), interest=Decimal("0"), fees=Decimal("0"),
            past_due_amount=Decimal("1000.00"), assigned_collector_id=desk["collector_user"].id,
        )  # fmt: skip
        await session.commit()
        desk["named"] = account
        plan = (await propose(client, desk, account="named")).json()
        response = await download(client, desk, plan["id"])
        assert response.status_code == 200, response.text
        text = pdf_text(response.content)
        assert f"Deudor: {drawn}," in text


class TestTheSameBytes:
    async def test_later_downloads_give_the_issued_bytes_whatever_changed(
        self, client, desk, session, app
    ):
        await give_payment_account(client, desk)
        plan = (await propose(client, desk, installments=3, down_payment="1400.00")).json()
        assert plan["status"] == "active", plan
        first = await download(client, desk, plan["id"])
        assert first.status_code == 200
        digest = hashlib.sha256(first.content).hexdigest()

        # The creditor renamed, its bank changed, the debtor's name corrected, another agency
        # in the settings: the agreement already issued says what it said.
        renamed = await client.patch(
            f"/api/v1/partners/{desk['partner'].id}",
            json={"legal_name": "Otro Nombre, S.A.", "payment_clabe": None},
            headers=desk["manager"],
        )
        assert renamed.status_code == 200, renamed.text
        account = desk["small"]
        account.debtor_first_names = "Otra Persona"
        session.add(account)
        await session.commit()
        app.state.settings = app.state.settings.model_copy(
            update={"agency_legal_name": "Otra Agencia", "agency_redeco_number": "9999"}
        )

        for who in ("collector", "lead", "auditor"):
            again = await download(client, desk, plan["id"], who)
            assert again.status_code == 200, again.text
            assert again.content == first.content
            assert again.headers["X-Agreement-SHA256"] == digest
        stored = await client.get(f"/api/v1/plans/{plan['id']}", headers=desk["collector"])
        assert stored.json()["agreement_sha256"] == digest
        assert await audited(session, plan["id"]) == ["plan.proposed", "plan.agreement"]

        # A plan issued elsewhere is unaffected; a new one names what is now true.
        other = (await propose(client, desk, account="big", who="manager")).json()
        assert other["status"] == "active", other
        text = pdf_text((await download(client, desk, other["id"], "manager")).content)
        assert "Otro Nombre, S.A." in text and "Otra Agencia" in text and "9999" in text

    async def test_a_cancelled_plan_keeps_the_agreement_it_issued(self, client, desk):
        plan = (await propose(client, desk)).json()
        first = await download(client, desk, plan["id"])
        cancelled = await act(client, desk, plan["id"], "cancel", "manager")
        assert cancelled.status_code == 200, cancelled.text
        again = await download(client, desk, plan["id"])
        assert again.status_code == 200
        assert again.content == first.content

    async def test_a_cancelled_plan_never_issued_has_none(self, client, desk):
        plan = (await propose(client, desk)).json()
        assert (await act(client, desk, plan["id"], "cancel", "manager")).status_code == 200
        assert (await download(client, desk, plan["id"])).status_code == 409

    async def test_an_agreement_issued_before_facts_were_kept_is_issued_anew(
        self, client, desk, session
    ):
        plan = (await propose(client, desk)).json()
        stored = await session.get_one(PaymentPlan, uuid.UUID(plan["id"]))
        stored.agreement_sha256 = "0" * 64
        session.add(stored)
        await session.commit()

        response = await download(client, desk, plan["id"])
        assert response.status_code == 200
        digest = hashlib.sha256(response.content).hexdigest()
        event = await session.scalar(
            select(AuditEvent).where(
                col(AuditEvent.entity_id) == plan["id"], col(AuditEvent.action) == "plan.agreement"
            )
        )
        assert event is not None
        assert event.before == {"agreement_sha256": "0" * 64}
        assert event.after is not None and event.after["agreement_sha256"] == digest
        assert re.fullmatch(r"CONV-[A-Z0-9]+-\d{4}-[0-9A-F]{10}", event.after["folio"])
        again = await download(client, desk, plan["id"])
        assert again.content == response.content


class TestPartnerPaymentAccount:
    async def test_a_clabe_with_a_wrong_check_digit_is_refused(self, client, desk):
        refused = await client.patch(
            f"/api/v1/partners/{desk['partner'].id}",
            json={"payment_clabe": CLABE[:-1] + "0"},
            headers=desk["manager"],
        )
        assert_problem(refused, 422, "validation_failed")
        assert "check digit" in refused.text
