"""Large uploads: a multipart file bigger than the form parser's in-memory part size, and the
body limit that applies to pushes rather than the API's general one."""

from __future__ import annotations

import csv
import io
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.account import Account
from app.services import assignments as service
from tests.factories import make_partner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from common import HEADER, rows


def csv_text(count: int, prefix: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows(count, as_of=date.today() - timedelta(days=1), prefix=prefix))
    return buffer.getvalue().encode()


async def test_multipart_file_of_several_megabytes_is_processed(
    client, session, make_user, auth_headers
):
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    body = csv_text(12_000, "MP")
    assert len(body) > 3 * 1024 * 1024
    response = await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        files={"file": ("cartera.csv", body, "text/csv")},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 202, response.text
    done = await service.process_assignment(session, uuid.UUID(response.json()["id"]))
    assert (done.status, done.received, done.created) == ("completed", 12_000, 12_000)
    stored = await session.scalar(
        select(func.count()).select_from(Account).where(Account.partner_id == partner.id)
    )
    assert stored == 12_000


async def test_push_may_exceed_the_general_body_limit(
    client, session, make_user, auth_headers, app
):
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    limit = app.state.settings.max_body_bytes
    body = csv_text(max(1, limit // 250), "BL")
    assert len(body) > limit
    pushed = await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        content=body,
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/csv"},
    )
    assert pushed.status_code == 202, pushed.text
    # Any other operation keeps the general limit.
    other = await client.post(
        "/api/v1/teams",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert other.status_code == 413
