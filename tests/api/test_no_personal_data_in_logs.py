"""What the service logs never carries personal data: a push, its processing, reads, a
reveal and an export are run with logging captured, and the seeded ids, phones and emails
are searched for in everything the app logged."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlmodel import select

from app.domain.roles import Role
from app.models.account import Account
from tests.helpers.assignments import add_partner, process, push_json, row, valid_curp

SEEDED = (valid_curp(77), "+525512345678", "5512345678", "juan@example.mx")


@pytest.fixture
async def manager(make_user, auth_headers):
    return auth_headers(await make_user(Role.MANAGER))


async def test_the_app_logs_no_personal_data(client, session, manager, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    partner = await add_partner(session)
    await process(session, await push_json(client, manager, partner, [row("L-1", 77)]))
    account = await session.scalar(select(Account).where(Account.partner_id == partner.id))
    assert account is not None
    debtor = f"/api/v1/debtors/{account.debtor_id}"
    calls = [
        client.get(f"/api/v1/accounts/{account.id}", headers=manager),
        client.get(debtor, headers=manager),
        client.post(
            f"{debtor}/reveal",
            json={"fields": ["national_id", "contact_points"], "reason": "Checking logs now"},
            headers=manager,
        ),
        client.get(f"{debtor}/export", params={"reason": "ARCO request 77"}, headers=manager),
        client.post(
            f"{debtor}/reveal", json={"fields": ["national_id"], "reason": valid_curp(77)},
            headers={"Authorization": "Bearer nonsense"},
        ),
        client.get(f"/api/v1/debtors/{uuid.uuid4()}", headers=manager),
        client.get("/api/v1/kyc/search", params={"national_id": valid_curp(77)}, headers=manager),
        client.get("/api/v1/kyc/search", params={"phone": "55 1234 5678"}, headers=manager),
        client.get("/api/v1/kyc/search", params={"email": "juan@example"}, headers=manager),
    ]  # fmt: skip
    statuses = [(await call).status_code for call in calls]
    assert statuses == [200, 200, 200, 200, 401, 404, 200, 200, 422]
    # The test client's own logger prints the URLs it calls; everything else is the app's.
    logged = "\n".join(
        record.getMessage() + " " + str(record.__dict__)
        for record in caplog.records
        if not record.name.startswith("httpx")
    )
    captured = capsys.readouterr()
    app_err = "\n".join(
        line
        for line in (captured.out + captured.err).splitlines()
        if '"logger": "httpx"' not in line
    )
    assert "assignment merged" in logged or "assignment merged" in app_err
    for secret in SEEDED:
        assert secret not in logged, secret
        assert secret not in app_err, secret
