"""Account documents through the API: upload, list, read, download (audited), type sniffing,
the size limit, storage once per partner and SHA-256, visibility, and the custody of paper
originals. (Sealing, integrity and rotation: tests/security/test_sealed_documents.py.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from app.config import Settings
from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.document import AccountDocument, DocumentBlob, DocumentBlobChunk
from app.models.user import Team, TeamMember
from tests.factories import (
    assert_problem,
    business_today,
    make_account,
    make_partner,
    partner_bearer,
)
from tests.helpers.documents import PDF

LIMIT = 64 * 1024
TODAY = business_today()

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x00IEND\xaeB`\x82"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The suite's settings with a data folder of this test's own and a small document limit
    (the app reads its settings per request, so this test's app uses these)."""
    return Settings(  # type: ignore[call-arg]
        env="test",
        database_url=None,
        log_json=True,
        data_dir=tmp_path,
        max_document_bytes=LIMIT,
        _env_file=None,
    )


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    """A partner; a collector (in a team led by ``lead``) with an account; another collector
    with an account; a manager, an auditor, the partner's system and another partner's."""
    partner = await make_partner(session)
    other_partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    other_collector = await make_user(Role.COLLECTOR)
    lead = await make_user(Role.TEAM_LEAD)
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=collector.id))
    mine = await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
    second = await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
    theirs = await make_account(session, partner, dpd=40, assigned_collector_id=other_collector.id)
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other_partner)
    await session.commit()
    return {
        "mine": mine,
        "second": second,
        "theirs": theirs,
        "collector": auth_headers(collector),
        "collector_id": str(collector.id),
        "other_collector": auth_headers(other_collector),
        "other_collector_id": str(other_collector.id),
        "lead": auth_headers(lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "system": system,
        "other_system": other_system,
    }


async def upload(client, desk, body=PDF, *, who="collector", account="mine",
                 media_type="application/pdf", kind="signed_agreement", title=None):  # fmt: skip
    params = {"kind": kind}
    if title is not None:
        params["title"] = title
    return await client.post(
        f"/api/v1/accounts/{desk[account].id}/documents",
        params=params,
        content=body,
        headers={**desk[who], "Content-Type": media_type},
    )


def stored_files(settings: Settings) -> list[Path]:
    """Whatever is in the data folder: documents are kept in the database, never here."""
    return sorted(p for p in settings.data_dir.rglob("*") if p.is_file())


async def count(session, model, *conditions) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*conditions))


async def audit_events(session, action: str, entity_id: str) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent)
        .where(col(AuditEvent.action) == action, col(AuditEvent.entity_id) == entity_id)
        .order_by(col(AuditEvent.seq))
    )
    return list(rows.all())


async def nothing_stored(session, settings: Settings) -> bool:
    """No document, no sealed bytes (the refused upload's chunks rolled back) and no file."""
    counts = [await count(session, m) for m in (AccountDocument, DocumentBlob, DocumentBlobChunk)]
    return counts == [0, 0, 0] and stored_files(settings) == []


class TestUpload:
    async def test_a_collector_uploads_a_pdf_to_their_account(
        self, client, session, settings, desk
    ):
        response = await upload(client, desk, title="Convenio firmado")
        assert response.status_code == 201, response.text
        body = response.json()
        sha = hashlib.sha256(PDF).hexdigest()
        assert response.headers["Location"] == f"/api/v1/documents/{body['id']}"
        account = desk["mine"]
        assert body["account_id"] == str(account.id)
        assert body["partner_id"] == str(account.partner_id)
        assert body["debtor_id"] == str(account.debtor_id)
        assert body["kind"] == "signed_agreement"
        assert body["title"] == "Convenio firmado"
        assert body["content_type"] == "application/pdf"
        assert body["size_bytes"] == len(PDF)
        assert body["sha256"] == sha
        assert body["custody"]["status"] == "digital_only"
        assert body["custody"]["on"] is None
        assert body["content_url"] == f"/api/v1/documents/{body['id']}/content"
        document = await session.get_one(AccountDocument, uuid.UUID(body["id"]))
        blob = await session.get_one(DocumentBlob, document.blob_id)
        assert (blob.partner_id, blob.sha256, blob.size_bytes, blob.chunks) == (
            account.partner_id, sha, len(PDF), 1,
        )  # fmt: skip
        assert (
            await count(session, DocumentBlobChunk, col(DocumentBlobChunk.blob_id) == blob.id) == 1
        )
        assert stored_files(settings) == []  # nothing on disk, not even a temporary file
        [event] = await audit_events(session, "document.uploaded", body["id"])
        assert event.after is not None and event.after["sha256"] == sha

    @pytest.mark.parametrize(("body", "media_type"), [(JPEG, "image/jpeg"), (PNG, "image/png")])
    async def test_photos_are_accepted(self, client, desk, body, media_type):
        response = await upload(client, desk, body, media_type=media_type, kind="visit_photo")
        assert response.status_code == 201, response.text
        assert response.json()["content_type"] == media_type

    async def test_a_blank_title_is_no_title(self, client, desk):
        response = await upload(client, desk, title="   ")
        assert response.status_code == 201, response.text
        assert response.json()["title"] is None

    async def test_a_partner_uploads_to_its_own_portfolio(self, client, desk):
        response = await upload(client, desk, who="system", kind="correspondence")
        assert response.status_code == 201, response.text

    async def test_kind_is_required_and_checked(self, client, session, desk):
        missing = await client.post(
            f"/api/v1/accounts/{desk['mine'].id}/documents",
            content=PDF,
            headers={**desk["collector"], "Content-Type": "application/pdf"},
        )
        assert_problem(missing, 422, "validation_failed")
        assert_problem(await upload(client, desk, kind="selfie"), 422, "validation_failed")
        assert_problem(await upload(client, desk, title="x" * 201), 422, "validation_failed")
        assert await count(session, AccountDocument) == 0

    async def test_an_empty_body_is_refused(self, client, session, settings, desk):
        assert_problem(await upload(client, desk, b""), 422, "invalid_input")
        assert await nothing_stored(session, settings)


class TestTypes:
    async def test_a_program_renamed_pdf_is_refused(self, client, session, settings, desk):
        response = await upload(client, desk, EXE)
        assert_problem(response, 415, "unsupported_media_type")
        assert await nothing_stored(session, settings)

    async def test_a_png_declared_as_jpeg_is_refused(self, client, desk):
        response = await upload(client, desk, PNG, media_type="image/jpeg")
        assert_problem(response, 415, "unsupported_media_type")

    @pytest.mark.parametrize(
        ("body", "media_type"),
        [
            (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "application/pdf"),
            (b"%PDF-" + b"MZ\x90\x00" * 400, "application/pdf"),
            (PDF + b"\0" * 1024, "application/pdf"),
            (JPEG[:-2], "image/jpeg"),
            (JPEG + b"MZ\x90\x00", "image/jpeg"),
            (PNG[:-12], "image/png"),
        ],
    )
    async def test_a_body_that_does_not_end_as_its_type_is_refused(
        self, client, session, settings, desk, body, media_type
    ):
        response = await upload(client, desk, body, media_type=media_type)
        assert_problem(response, 415, "unsupported_media_type")
        assert await nothing_stored(session, settings)

    async def test_the_end_marker_is_looked_for_across_small_chunks(self, client, desk):
        async def send(body: bytes):
            async def pieces() -> AsyncIterator[bytes]:
                for start in range(0, len(body), 7):
                    yield body[start : start + 7]

            return await client.post(
                f"/api/v1/accounts/{desk['mine'].id}/documents",
                params={"kind": "other"},
                content=pieces(),
                headers={**desk["collector"], "Content-Type": "application/pdf"},
            )

        assert_problem(await send(PDF + b" " * 3000), 415, "unsupported_media_type")
        padded = PDF[:-6] + b" " * 3000 + PDF[-6:]
        response = await send(padded)
        assert response.status_code == 201, response.text
        assert response.json()["size_bytes"] == len(padded)

    @pytest.mark.parametrize("media_type", ["text/plain", "application/octet-stream", "image/gif"])
    async def test_other_types_are_refused(self, client, session, desk, media_type):
        assert_problem(
            await upload(client, desk, media_type=media_type), 415, "unsupported_media_type"
        )
        assert await count(session, AccountDocument) == 0

    async def test_multipart_is_not_the_way_to_send_a_document(self, client, desk):
        response = await client.post(
            f"/api/v1/accounts/{desk['mine'].id}/documents",
            params={"kind": "other"},
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers=desk["collector"],
        )
        assert_problem(response, 415, "unsupported_media_type")

    async def test_a_signature_split_across_chunks_is_still_recognised(self, client, desk):
        async def pieces() -> AsyncIterator[bytes]:
            for byte in PNG:
                yield bytes([byte])

        response = await client.post(
            f"/api/v1/accounts/{desk['mine'].id}/documents",
            params={"kind": "visit_photo"},
            content=pieces(),
            headers={**desk["collector"], "Content-Type": "image/png"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(PNG).hexdigest()


class TestSize:
    async def test_a_document_over_the_limit_is_refused(self, client, session, settings, desk):
        response = await upload(client, desk, PDF + b"0" * (LIMIT - len(PDF) + 1))
        assert_problem(response, 413, "payload_too_large")
        assert f"{LIMIT}" in response.json()["detail"]
        assert await nothing_stored(session, settings)

    async def test_the_limit_holds_while_streaming_without_a_length(
        self, client, session, settings, desk
    ):
        async def pieces() -> AsyncIterator[bytes]:
            yield PDF
            for _ in range(LIMIT // 1024 + 1):
                yield b"0" * 1024

        response = await client.post(
            f"/api/v1/accounts/{desk['mine'].id}/documents",
            params={"kind": "other"},
            content=pieces(),
            headers={**desk["collector"], "Content-Type": "application/pdf"},
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "payload_too_large")
        assert await nothing_stored(session, settings)

    async def test_a_document_at_the_limit_is_accepted(self, client, desk):
        padded = PDF[:-6] + b"0" * (LIMIT - len(PDF)) + PDF[-6:]
        response = await upload(client, desk, padded)
        assert response.status_code == 201, response.text
        assert response.json()["size_bytes"] == LIMIT


class TestStorage:
    async def test_a_damaged_stored_copy_is_never_served_and_the_same_upload_heals_it(
        self, client, session, settings, desk
    ):
        created = (await upload(client, desk)).json()
        document = await session.get_one(AccountDocument, uuid.UUID(created["id"]))
        await session.execute(
            text(
                "UPDATE document_blob_chunk SET ciphertext = "
                "overlay(ciphertext placing '\\x00'::bytea from 20) WHERE blob_id = :blob"
            ),
            {"blob": document.blob_id},
        )
        response = await client.get(created["content_url"], headers=desk["collector"])
        assert_problem(response, 500, "internal_error")
        assert await audit_events(session, "document.downloaded", created["id"]) == []
        again = await upload(client, desk, kind="other")
        assert again.status_code == 201
        assert await count(session, DocumentBlob) == 1
        healed = await client.get(created["content_url"], headers=desk["collector"])
        assert healed.status_code == 200, healed.text
        assert healed.content == PDF

    async def test_the_same_bytes_are_stored_once_per_partner(self, client, session, desk):
        first = await upload(client, desk, account="mine")
        second = await upload(client, desk, account="second", kind="other")
        again = await upload(client, desk, account="mine", kind="correspondence")
        assert {first.status_code, second.status_code, again.status_code} == {201}
        ids = {r.json()["id"] for r in (first, second, again)}
        assert len(ids) == 3
        assert {r.json()["sha256"] for r in (first, second, again)} == {
            hashlib.sha256(PDF).hexdigest()
        }
        assert await count(session, DocumentBlob) == 1
        assert await count(session, DocumentBlobChunk) == 1  # the copies' chunks are gone
        other = await upload(client, desk, JPEG, media_type="image/jpeg", kind="visit_photo")
        assert other.status_code == 201
        assert await count(session, DocumentBlob) == 2
        for response, body in ((first, PDF), (second, PDF), (again, PDF), (other, JPEG)):
            content = await client.get(response.json()["content_url"], headers=desk["lead"])
            assert content.content == body


class TestReading:
    async def test_list_is_newest_first_and_paginated(self, client, desk):
        made = []
        for kind in ("signed_agreement", "visit_photo", "other"):
            response = await upload(client, desk, kind=kind)
            assert response.status_code == 201
            made.append(response.json()["id"])
        url = f"/api/v1/accounts/{desk['mine'].id}/documents"
        page = await client.get(url, params={"limit": 2}, headers=desk["collector"])
        assert page.status_code == 200, page.text
        assert [d["id"] for d in page.json()["items"]] == made[::-1][:2]
        cursor = page.json()["next_cursor"]
        assert cursor
        rest = await client.get(
            url, params={"limit": 2, "cursor": cursor}, headers=desk["collector"]
        )
        assert [d["id"] for d in rest.json()["items"]] == [made[0]]
        assert rest.json()["next_cursor"] is None
        photos = await client.get(url, params={"kind": "visit_photo"}, headers=desk["collector"])
        assert [d["id"] for d in photos.json()["items"]] == [made[1]]
        bad = await client.get(url, params={"cursor": "nonsense!"}, headers=desk["collector"])
        assert_problem(bad, 422, "invalid_input")

    async def test_read_and_download(self, client, session, desk):
        created = (
            await upload(client, desk, JPEG, media_type="image/jpeg", kind="visit_photo")
        ).json()
        got = await client.get(f"/api/v1/documents/{created['id']}", headers=desk["collector"])
        assert got.status_code == 200
        assert got.json() == created
        content = await client.get(created["content_url"], headers=desk["collector"])
        assert content.status_code == 200, content.text
        assert content.content == JPEG
        assert content.headers["content-type"] == "image/jpeg"
        assert content.headers["content-disposition"] == (
            f'attachment; filename="visit_photo-{created["id"]}.jpg"'
        )
        assert content.headers["x-content-sha256"] == created["sha256"]

    async def test_every_download_is_audited(self, client, session, desk):
        created = (await upload(client, desk)).json()
        assert await audit_events(session, "document.downloaded", created["id"]) == []
        for who in ("collector", "auditor"):
            response = await client.get(created["content_url"], headers=desk[who])
            assert response.status_code == 200
        events = await audit_events(session, "document.downloaded", created["id"])
        assert [e.actor_role for e in events] == ["collector", "auditor"]
        # Reading the details is not a download.
        await client.get(f"/api/v1/documents/{created['id']}", headers=desk["collector"])
        assert len(await audit_events(session, "document.downloaded", created["id"])) == 2

    async def test_unknown_document_is_404(self, client, desk):
        missing = uuid.uuid4()
        for url in (f"/api/v1/documents/{missing}", f"/api/v1/documents/{missing}/content"):
            assert_problem(await client.get(url, headers=desk["manager"]), 404, "not_found")


class TestVisibility:
    async def test_another_collectors_account_is_404(self, client, session, desk):
        created = (await upload(client, desk)).json()
        outsider = desk["other_collector"]
        assert_problem(await upload(client, desk, who="other_collector"), 404, "not_found")
        listing = await client.get(
            f"/api/v1/accounts/{desk['mine'].id}/documents", headers=outsider
        )
        assert_problem(listing, 404, "not_found")
        for url in (f"/api/v1/documents/{created['id']}", created["content_url"]):
            assert_problem(await client.get(url, headers=outsider), 404, "not_found")
        custody = await client.post(
            f"/api/v1/documents/{created['id']}/custody",
            json={"status": "with_collector", "on": TODAY.isoformat(), "by": "Luis"},
            headers=outsider,
        )
        assert_problem(custody, 404, "not_found")
        assert await audit_events(session, "document.downloaded", created["id"]) == []

    async def test_another_partner_sees_nothing(self, client, desk):
        created = (await upload(client, desk)).json()
        assert_problem(await upload(client, desk, who="other_system"), 404, "not_found")
        response = await client.get(
            f"/api/v1/documents/{created['id']}", headers=desk["other_system"]
        )
        assert_problem(response, 404, "not_found")
        own = await client.get(f"/api/v1/documents/{created['id']}", headers=desk["system"])
        assert own.status_code == 200

    async def test_the_auditor_reads_but_does_not_upload(self, client, session, desk):
        created = (await upload(client, desk)).json()
        assert_problem(await upload(client, desk, who="auditor"), 403, "permission_denied")
        assert await count(session, AccountDocument) == 1
        listing = await client.get(
            f"/api/v1/accounts/{desk['mine'].id}/documents", headers=desk["auditor"]
        )
        assert [d["id"] for d in listing.json()["items"]] == [created["id"]]
        content = await client.get(created["content_url"], headers=desk["auditor"])
        assert content.content == PDF

    async def test_the_lead_sees_the_teams_documents(self, client, desk):
        created = (await upload(client, desk)).json()
        got = await client.get(f"/api/v1/documents/{created['id']}", headers=desk["lead"])
        assert got.status_code == 200

    async def test_no_token_is_401(self, client, desk):
        response = await client.post(
            f"/api/v1/accounts/{desk['mine'].id}/documents",
            params={"kind": "other"},
            content=PDF,
            headers={"Content-Type": "application/pdf"},
        )
        assert_problem(response, 401, "not_authenticated")


async def custody(client, desk, document_id, status, who, on=TODAY, by="Luis Méndez", note=None):
    return await client.post(
        f"/api/v1/documents/{document_id}/custody",
        json={"status": status, "on": on.isoformat(), "by": by, "note": note},
        headers=desk[who],
    )


class TestCustody:
    async def test_the_paper_travels_forward_and_every_step_is_audited(self, client, session, desk):
        doc = (await upload(client, desk)).json()["id"]
        held = await custody(client, desk, doc, "with_collector", "collector",
                             on=TODAY - timedelta(days=3), note="firmado en domicilio")  # fmt: skip
        assert held.status_code == 200, held.text
        assert held.json()["custody"] | {"recorded_at": None} == {
            "status": "with_collector", "on": (TODAY - timedelta(days=3)).isoformat(),
            "by": "Luis Méndez", "note": "firmado en domicilio",
            "recorded_by": held.json()["custody"]["recorded_by"], "recorded_at": None,
            "holder_id": desk["collector_id"],
        }  # fmt: skip
        delivered = await custody(client, desk, doc, "delivered_to_office", "lead",
                                  on=TODAY - timedelta(days=1), by="Recepción")  # fmt: skip
        assert delivered.status_code == 200, delivered.text
        destroyed = await custody(client, desk, doc, "destroyed", "manager", by="Archivo")
        assert destroyed.status_code == 200, destroyed.text
        assert destroyed.json()["custody"]["status"] == "destroyed"
        events = await audit_events(session, "document.custody_recorded", doc)
        assert [(e.before or {}).get("status") for e in events] == [
            "digital_only", "with_collector", "delivered_to_office",
        ]  # fmt: skip
        assert [(e.after or {}).get("status") for e in events] == [
            "with_collector", "delivered_to_office", "destroyed",
        ]  # fmt: skip
        read = await client.get(f"/api/v1/documents/{doc}", headers=desk["auditor"])
        assert read.json()["custody"]["by"] == "Archivo"

    async def test_moves_that_are_not_forward_are_409(self, client, session, desk):
        doc = (await upload(client, desk)).json()["id"]
        early = await custody(client, desk, doc, "destroyed", "manager")
        assert_problem(early, 409, "custody_not_forward")
        assert (
            await custody(client, desk, doc, "delivered_to_office", "manager")
        ).status_code == 200
        assert_problem(
            await custody(client, desk, doc, "with_collector", "manager"),
            409,
            "custody_not_forward",
        )
        assert_problem(
            await custody(client, desk, doc, "delivered_to_office", "manager"),
            409,
            "custody_not_forward",
        )
        assert (await custody(client, desk, doc, "destroyed", "manager")).status_code == 200
        for status in ("with_collector", "delivered_to_office", "destroyed", "returned_to_partner"):
            assert_problem(
                await custody(client, desk, doc, status, "manager"), 409, "custody_not_forward"
            )
        assert len(await audit_events(session, "document.custody_recorded", doc)) == 2

    async def test_roles(self, client, desk):
        doc = (await upload(client, desk)).json()["id"]
        for who in ("auditor", "system"):
            response = await custody(client, desk, doc, "with_collector", who)
            assert_problem(response, 403, "permission_denied")
        assert (await custody(client, desk, doc, "with_collector", "collector")).status_code == 200
        for status in ("delivered_to_office", "destroyed"):
            response = await custody(client, desk, doc, status, "collector")
            assert_problem(response, 403, "permission_denied")
        read = await client.get(f"/api/v1/documents/{doc}", headers=desk["collector"])
        assert read.json()["custody"]["status"] == "with_collector"

    async def test_bad_dates_and_bodies_are_422(self, client, desk):
        doc = (await upload(client, desk)).json()["id"]
        future = await custody(client, desk, doc, "with_collector", "collector",
                               on=TODAY + timedelta(days=2))  # fmt: skip
        assert_problem(future, 422, "invalid_input")
        assert (await custody(client, desk, doc, "with_collector", "collector")).status_code == 200
        before = await custody(client, desk, doc, "delivered_to_office", "lead",
                               on=TODAY - timedelta(days=1))  # fmt: skip
        assert_problem(before, 422, "invalid_input")
        for payload in (
            {"status": "digital_only", "on": TODAY.isoformat(), "by": "X"},
            {"status": "lost", "on": TODAY.isoformat(), "by": "X"},
            {"status": "destroyed", "on": "ayer", "by": "X"},
            {"status": "destroyed", "on": TODAY.isoformat(), "by": "   "},
            {"status": "destroyed", "on": TODAY.isoformat()},
            {"status": "destroyed", "on": TODAY.isoformat(), "by": "X", "extra": 1},
            {"status": "destroyed", "on": TODAY.isoformat(), "by": "A\x00B"},
            {"status": "destroyed", "on": TODAY.isoformat(), "by": "X", "note": "n" * 501},
        ):
            response = await client.post(
                f"/api/v1/documents/{doc}/custody", json=payload, headers=desk["manager"]
            )
            assert_problem(response, 422, "validation_failed")


class TestOriginalsInTheField:
    async def test_the_office_finds_the_originals_a_collector_still_holds(self, client, desk):
        held = (await upload(client, desk)).json()["id"]
        assert (await custody(client, desk, held, "with_collector", "collector")).status_code == 200
        delivered = (await upload(client, desk, account="second")).json()["id"]
        await custody(client, desk, delivered, "with_collector", "collector")
        await custody(client, desk, delivered, "delivered_to_office", "lead")
        (await upload(client, desk)).json()["id"]  # digital only
        theirs = (await upload(client, desk, who="other_collector", account="theirs")).json()["id"]
        # Recorded by the office: the account's collector holds it.
        await custody(client, desk, theirs, "with_collector", "manager")

        response = await client.get(
            "/api/v1/documents",
            params={"custody": "with_collector", "collector_id": desk["collector_id"]},
            headers=desk["lead"],
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [d["id"] for d in items] == [held]
        assert items[0]["account"]["external_ref"] == desk["mine"].external_ref
        assert items[0]["custody"]["holder_id"] == desk["collector_id"]
        everyone = await client.get(
            "/api/v1/documents", params={"custody": "with_collector"}, headers=desk["manager"]
        )
        assert [d["id"] for d in everyone.json()["items"]] == [theirs, held]
        assert everyone.json()["items"][0]["custody"]["holder_id"] == desk["other_collector_id"]
        # The lead's team is the collector's: the other collector's original is not theirs.
        lead_all = await client.get(
            "/api/v1/documents", params={"custody": "with_collector"}, headers=desk["lead"]
        )
        assert [d["id"] for d in lead_all.json()["items"]] == [held]

    async def test_an_original_goes_back_to_the_creditor_from_the_office(
        self, client, session, desk
    ):
        doc = (await upload(client, desk)).json()["id"]
        await custody(client, desk, doc, "with_collector", "collector")
        assert_problem(
            await custody(client, desk, doc, "returned_to_partner", "manager"),
            409,
            "custody_not_forward",
        )
        await custody(client, desk, doc, "delivered_to_office", "lead")
        assert_problem(
            await custody(client, desk, doc, "returned_to_partner", "collector"),
            403,
            "permission_denied",
        )
        returned = await custody(client, desk, doc, "returned_to_partner", "lead", by="Banco")
        assert returned.status_code == 200, returned.text
        assert returned.json()["custody"]["status"] == "returned_to_partner"
        assert returned.json()["custody"]["holder_id"] is None
        assert_problem(
            await custody(client, desk, doc, "destroyed", "manager"), 409, "custody_not_forward"
        )
        events = await audit_events(session, "document.custody_recorded", doc)
        assert [(e.after or {}).get("status") for e in events][-1] == "returned_to_partner"

    async def test_a_partner_lists_its_own_portfolios_documents_only(self, client, desk):
        mine = (await upload(client, desk)).json()["id"]
        seen = await client.get("/api/v1/documents", headers=desk["system"])
        assert [d["id"] for d in seen.json()["items"]] == [mine]
        other = await client.get("/api/v1/documents", headers=desk["other_system"])
        assert other.json()["items"] == []
        bad = await client.get(
            "/api/v1/documents", params={"custody": "lost"}, headers=desk["manager"]
        )
        assert_problem(bad, 422, "validation_failed")


class TestSweep:
    """Sealed bytes no document reads (none are left by the API: a failed upload rolls back
    with its request) and the files of the old data-folder layout are swept once older than
    the grace period; referenced and recent ones are kept."""

    async def test_unreferenced_blobs_and_old_layout_files_go_the_rest_stays(
        self, client, session, desk, settings
    ):
        import os
        from datetime import UTC, datetime

        from app.domain.documents import MediaType
        from app.services.documents import store_content, sweep_orphans

        kept = await upload(client, desk)
        assert kept.status_code == 201, kept.text

        async def orphan(content: bytes) -> uuid.UUID:
            async def body() -> AsyncIterator[bytes]:
                yield content

            stored = await store_content(
                session, desk["mine"].partner_id, body(), MediaType.PDF, limit=LIMIT
            )
            return stored.blob_id

        old_orphan = await orphan(PDF + b"% rolled back\n")
        young_orphan = await orphan(PDF + b"% in flight\n")
        now = datetime.now(UTC)
        await session.execute(
            text("UPDATE document_blob SET created_at = :at WHERE id <> :young"),
            {"at": now - timedelta(hours=2), "young": young_orphan},
        )
        legacy = settings.data_dir / "documents"
        old_file = legacy / "ab" / ("ab" + "0" * 62)
        young_file = legacy / "cd" / ("cd" + "0" * 62)
        leftover = legacy / "tmp" / "dead.part"
        for path in (old_file, young_file, leftover):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"%PDF-1.4 plaintext of old")
        two_hours_ago = (now - timedelta(hours=2)).timestamp()
        for path in (old_file, leftover):
            os.utime(path, (two_hours_ago, two_hours_ago))

        result = await sweep_orphans(
            session, settings.data_dir, older_than=timedelta(hours=1), now=now
        )

        assert (result.blobs_deleted, result.chunks_deleted, result.legacy_files_deleted) == (
            1, 1, 2,
        )  # fmt: skip
        remaining = set(await session.scalars(select(col(DocumentBlob.id))))
        assert old_orphan not in remaining and young_orphan in remaining
        assert (
            await count(session, DocumentBlobChunk, col(DocumentBlobChunk.blob_id) == old_orphan)
            == 0
        )
        assert young_file.exists() and not old_file.exists() and not leftover.exists()
        assert not (legacy / "ab").exists()  # emptied folders go too
        download = await client.get(
            f"/api/v1/documents/{kept.json()['id']}/content", headers=desk["collector"]
        )
        assert download.status_code == 200
        assert download.content == PDF
