"""Push progress (issue 19): while a push, a payment file or a SPEI statement is processed,
another request sees ``rows_done`` / ``rows_total`` move, although the job's own transaction
commits only at the end (the progress is written on a connection of its own, per chunk); the
partner lists its own pushes and files, and only those."""

from __future__ import annotations

import uuid

from app.domain.roles import Role
from app.services import assignments, payment_files, uploads
from tests.conftest import bearer_for
from tests.factories import business_today, make_partner, partner_bearer
from tests.helpers.assignments import push_json, row
from tests.helpers.payment_files import csv_of


async def test_another_request_sees_the_push_move(live, settings):
    client, add_user, database = live
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        other = await make_partner(session)
        token = await partner_bearer(session, settings, partner)
        other_token = await partner_bearer(session, settings, other)
    pushed = await push_json(client, token, partner, [row(f"PR-{n}", n) for n in range(7)])
    assert pushed.status_code == 202, pushed.text
    push_id = uuid.UUID(pushed.json()["id"])
    writer = uploads.ProgressWriter(database, push_id)
    seen: list[tuple[int, int | None, str]] = []

    async def write_then_look(done: int, total: int | None) -> None:
        await writer(done, total)
        # Mid-transaction of the job: what a partner polling the push sees now.
        got = (await client.get(f"/api/v1/assignments/{push_id}", headers=token)).json()
        seen.append((got["rows_done"], got["rows_total"], got["status"]))

    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            assignments.Assignment.__table__.update()  # type: ignore[attr-defined]
            .where(assignments.Assignment.id == push_id)
            .values(status="processing")
        )
    async with database.sessionmaker() as session, session.begin():
        done = await assignments.process_assignment(
            session, push_id, batch_rows=3, progress=write_then_look
        )
    assert done.status == "completed"
    assert seen == [(0, 7, "processing"), (3, 7, "processing"), (6, 7, "processing"),
                    (7, 7, "processing")]  # fmt: skip
    final = (await client.get(f"/api/v1/assignments/{push_id}", headers=token)).json()
    assert (final["rows_done"], final["rows_total"]) == (7, 7)

    listed = await client.get(f"/api/v1/partners/{partner.id}/assignments", headers=token)
    assert [a["id"] for a in listed.json()["items"]] == [str(push_id)]
    assert (
        await client.get(f"/api/v1/partners/{partner.id}/assignments", headers=other_token)
    ).status_code == 404
    admin = bearer_for(settings, await add_user(Role.ADMIN))
    mine = await client.get(f"/api/v1/partners/{other.id}/assignments", headers=admin)
    assert mine.json()["items"] == []


async def process_watched(live, token, file_id: uuid.UUID, path: str) -> list[dict]:
    """Process a queued payment file (or SPEI statement) two lines a batch, as the worker
    would after its claim, reading ``path`` (what a partner polls) after each progress write;
    what each read answered."""
    client, _, database = live
    writer = uploads.ProgressWriter(database, file_id)
    seen: list[dict] = []

    async def write_then_look(done: int, total: int | None) -> None:
        await writer(done, total)
        seen.append((await client.get(path, headers=token)).json())

    async with database.sessionmaker() as session, session.begin():
        # As the worker's claim leaves it.
        await session.execute(
            payment_files.PaymentFile.__table__.update()  # type: ignore[attr-defined]
            .where(payment_files.PaymentFile.id == file_id)
            .values(status="processing")
        )
    async with database.sessionmaker() as session, session.begin():
        await payment_files.process_file(session, file_id, batch_lines=2, progress=write_then_look)
    return seen


async def test_payment_file_progress_and_list(live, settings):
    client, _, database = live
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        token = await partner_bearer(session, settings, partner)
    day = business_today().isoformat()
    lines = [[f"NOPE-{n}", "", "10.00", day, "spei", ""] for n in range(5)]
    sent = await client.post(
        f"/api/v1/partners/{partner.id}/payment-files",
        content=csv_of(lines),
        headers={**token, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 202, sent.text
    file_id = uuid.UUID(sent.json()["id"])
    seen = await process_watched(live, token, file_id, f"/api/v1/payment-files/{file_id}")
    assert all(got["rows_total"] in (None, 5) for got in seen)
    assert [got["rows_done"] for got in seen] == [0, 2, 4, 5]
    listed = await client.get(f"/api/v1/partners/{partner.id}/payment-files", headers=token)
    item = listed.json()["items"][0]
    assert item["id"] == str(file_id) and (item["rows_done"], item["rows_total"]) == (5, 5)


async def test_spei_statement_progress(live, settings):
    client, _, database = live
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)  # Mexican: SPEI statements are its own
        token = await partner_bearer(session, settings, partner)
    day = business_today().isoformat()
    body = "amount,date,beneficiary_clabe,tracking_key,payer_name,payer_bank\n" + "".join(
        f"10.00,{day},002180000000000000,PROGRESS{n:04d},Ana Ruiz,BANORTE\n" for n in range(5)
    )
    sent = await client.post(
        f"/api/v1/partners/{partner.id}/spei-files",
        content=body.encode(),
        headers={**token, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 202, sent.text
    assert (sent.json()["rows_done"], sent.json()["rows_total"]) == (0, None)
    file_id = uuid.UUID(sent.json()["id"])
    seen = await process_watched(live, token, file_id, f"/api/v1/spei-files/{file_id}")
    assert [(got["rows_done"], got["rows_total"]) for got in seen] == [
        (0, 5),
        (2, 5),
        (4, 5),
        (5, 5),
    ]
    final = await client.get(f"/api/v1/spei-files/{file_id}", headers=token)
    assert final.status_code == 200, final.text
    assert final.json()["status"] in ("completed", "completed_with_errors")
    assert (final.json()["rows_done"], final.json()["rows_total"]) == (5, 5)
