"""Personal data at rest: ciphertext in the tables, readable through the app, and key
rotation re-sealing every row under the new key."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from app import vault
from app.config import DEFAULT_DATA_KEYS
from app.domain.crypto import Vault, key_id_of, new_key_text, parse_key_ring
from app.domain.roles import Role
from app.models.account import Account
from app.models.base import Sealed, metadata
from app.models.debtor import ContactPoint, Debtor, RelatedParty
from app.models.inbound import UnidentifiedCall
from app.models.payment_file import PaymentFile, PaymentFileLine
from app.models.webhook import WebhookSubscription
from app.services.keys import rotate, sealed_columns
from tests.helpers.assignments import (
    add_partner,
    process,
    push_json,
    row,
    valid_curp,
)


@pytest.fixture
async def manager(make_user, auth_headers):
    return auth_headers(await make_user(Role.MANAGER))


async def pushed(client, session, manager, number: int):
    partner = await add_partner(session)
    await process(session, await push_json(client, manager, partner, [row("S-1", number)]))
    return await session.scalar(
        select(Debtor).where(col(Debtor.national_id_index) == vault.current().index(
            valid_curp(number), "national_id"
        ))
    )  # fmt: skip


async def test_a_raw_select_shows_no_plaintext(client, session, manager):
    debtor = await pushed(client, session, manager, 41)
    assert debtor is not None and debtor.national_id == valid_curp(41)
    raw = (
        await session.execute(
            text("SELECT national_id, national_id_masked FROM debtor WHERE id = :id"),
            {"id": debtor.id},
        )
    ).one()
    assert isinstance(raw[0], bytes)
    assert valid_curp(41).encode() not in raw[0]
    assert raw[1] == "****" + valid_curp(41)[-4:]
    dump = (
        await session.execute(
            text(
                "SELECT string_agg(t::text, '|') FROM ("
                " SELECT d::text AS t FROM debtor d WHERE d.id = :id"
                " UNION ALL SELECT c::text FROM contact_point c WHERE c.debtor_id = :id"
                " UNION ALL SELECT p::text FROM related_party p JOIN account a ON a.id = "
                "   p.account_id WHERE a.debtor_id = :id) rows"
            ),
            {"id": debtor.id},
        )
    ).scalar_one()
    for plaintext in (valid_curp(41), "+525512345678", "5512345678", "juan@example.mx"):
        assert plaintext not in dump
    phones = set(
        await session.scalars(
            select(col(ContactPoint.value)).where(
                col(ContactPoint.debtor_id) == debtor.id, col(ContactPoint.kind) == "phone"
            )
        )
    )
    assert "+525512345678" in phones


async def test_rotation_reseals_every_row_under_the_new_key(client, session, manager):
    debtor = await pushed(client, session, manager, 42)
    old = vault.current()
    ring = {**parse_key_ring(DEFAULT_DATA_KEYS), **parse_key_ring(new_key_text(7))}
    new = Vault(ring, 7, old.index_key)
    with vault.using(new):

        async def run_batch(work):
            return await work(session)

        done = await rotate(run_batch, new, size=3)
        assert {(r.table, r.column) for r in done} == {
            ("debtor", "national_id"), ("related_party", "national_id"),
            ("contact_point", "value"), ("document_blob_chunk", "ciphertext"),
            ("unidentified_call", "phone"), ("webhook_subscription", "secret"),
            ("webhook_subscription", "previous_secret"), ("payment_file_line", "payer_name"),
        }  # fmt: skip
        # (Documents: tests/security/test_sealed_documents.py.)
        assert all(r.rows > 0 for r in done if r.table in {"debtor", "contact_point"})
        for table, column in (("debtor", "national_id"), ("contact_point", "value"),
                              ("related_party", "national_id")):  # fmt: skip
            key_ids = set(
                await session.scalars(
                    text(
                        f"SELECT DISTINCT get_byte({column}, 0) FROM {table} "
                        f"WHERE {column} IS NOT NULL"
                    )
                )
            )
            assert key_ids <= {7}, (table, key_ids)
        # The old key can leave the ring: everything still opens.
        with vault.using(Vault({7: ring[7]}, 7, old.index_key)):
            again = await session.get(Debtor, debtor.id, populate_existing=True)
            assert again is not None and again.national_id == valid_curp(42)
            parties = (await session.scalars(select(RelatedParty))).all()
            assert all(p.national_id is None or p.national_id_masked for p in parties)
        # A second run finds nothing left.
        assert all(r.rows == 0 for r in await rotate(run_batch, new, size=3))
    raw = await session.scalar(text("SELECT national_id FROM debtor WHERE id = :id"),
                               {"id": debtor.id})  # fmt: skip
    assert key_id_of(bytes(raw)) == 7


# Every column sealed at rest, as the models declare them (app/models).
SEALED_AT_REST = {
    ("debtor", "national_id"),
    ("related_party", "national_id"),
    ("contact_point", "value"),
    ("unidentified_call", "phone"),
    ("webhook_subscription", "secret"),
    ("webhook_subscription", "previous_secret"),
    ("payment_file_line", "payer_name"),
}


def test_rotation_knows_every_sealed_column():
    found = {(c.table, c.column) for c in sealed_columns()}
    assert found == SEALED_AT_REST
    declared = {
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Sealed)
    }
    assert declared == SEALED_AT_REST


async def test_after_rotation_the_old_key_leaves_and_every_sealed_value_opens(
    client, session, manager
):
    debtor = await pushed(client, session, manager, 43)
    partner_id = (await session.scalar(
        select(Account.partner_id).where(col(Account.debtor_id) == debtor.id)
    ))  # fmt: skip
    subscription = WebhookSubscription(
        partner_id=partner_id, url="https://hooks.example.mx/cartera", event_types=[],
        secret="whsec_current-secret", previous_secret="whsec_previous-secret",
        created_by="test",
    )  # fmt: skip
    statement = PaymentFile(
        partner_id=partner_id, kind="spei", idempotency_key="rotation", body_sha256="0" * 64,
        body_bytes=1, source_format="csv", currency="MXN", submitted_by="test",
    )  # fmt: skip
    session.add_all([subscription, statement])
    await session.flush()
    line = PaymentFileLine(
        payment_file_id=statement.id, row_number=1, outcome="unmatched",
        payer_name="MARIA LOPEZ GARCIA",
    )  # fmt: skip
    session.add(line)
    await session.flush()
    old = vault.current()
    ring = {**parse_key_ring(DEFAULT_DATA_KEYS), **parse_key_ring(new_key_text(8))}
    new = Vault(ring, 8, old.index_key)

    async def run_batch(work):
        return await work(session)

    with vault.using(new):
        # A batch of one: the composite key of a statement's lines is written back too.
        await rotate(run_batch, new, size=1)
    session.expunge_all()
    with vault.using(Vault({8: ring[8]}, 8, old.index_key)):
        for table, column in sorted(SEALED_AT_REST):
            key_ids = set(
                await session.scalars(
                    text(
                        f"SELECT DISTINCT get_byte({column}, 0) FROM {table} "
                        f"WHERE {column} IS NOT NULL"
                    )
                )
            )
            assert key_ids <= {8}, (table, column, key_ids)
        again = await session.get(WebhookSubscription, subscription.id)
        assert again is not None
        assert (again.secret, again.previous_secret) == (
            "whsec_current-secret",
            "whsec_previous-secret",
        )
        read = await session.get(PaymentFileLine, (statement.id, 1))
        assert read is not None and read.payer_name == "MARIA LOPEZ GARCIA"
        person = await session.get(Debtor, debtor.id)
        assert person is not None and person.national_id == valid_curp(43)
        # Every value of every sealed column opens with the new key alone (a value still
        # under the old key would raise as it is read).
        for column in (
            Debtor.national_id, RelatedParty.national_id, ContactPoint.value,
            UnidentifiedCall.phone, WebhookSubscription.secret,
            WebhookSubscription.previous_secret, PaymentFileLine.payer_name,
        ):  # fmt: skip
            values = (await session.scalars(select(col(column)))).all()
            assert all(v is None or isinstance(v, str) for v in values), column


async def test_a_new_index_key_finds_everyone_again_after_a_reindex(client, session, manager):
    import secrets

    from app.models.debtor import contact_index
    from app.services.keys import reindex

    debtor = await pushed(client, session, manager, 43)
    old = vault.current()
    new = Vault(old.keys, old.current, secrets.token_bytes(32))

    async def found() -> int:
        answer = await client.get(
            "/api/v1/kyc/search", params={"national_id": valid_curp(43)}, headers=manager
        )
        assert answer.status_code == 200, answer.text
        return len(answer.json()["items"])

    async def run_batch(work):
        return await work(session)

    assert await found() == 1
    with vault.using(new):
        # Under the new key nobody is found until the indexes are recomputed.
        assert await found() == 0
        done = {r.table: r for r in await reindex(run_batch, new, size=2)}
        assert done["debtor"].changed == done["debtor"].rows > 0
        assert done["contact_point"].changed == done["contact_point"].rows > 0
        assert await found() == 1
        points = (
            await session.scalars(
                select(ContactPoint).where(col(ContactPoint.debtor_id) == debtor.id)
            )
        ).all()
        for point in points:
            await session.refresh(point)
            assert bytes(point.value_index) == contact_index(point.kind, point.value, new)
        # A second run rewrites nothing.
        again = await reindex(run_batch, new, size=2)
        assert all(r.changed == 0 for r in again)
