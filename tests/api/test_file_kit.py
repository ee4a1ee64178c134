"""A partner's file kit through the API: the templates of each kind of file (CSV and Excel),
the column table in the contract, dry runs of pushes, payment files and SPEI statements, and
decimal commas in CSV files separated by semicolons."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from app.domain import assignments as assignment_rows
from app.domain import payment_files as payment_lines
from app.domain import spei_files as spei_lines
from app.domain.assignments import check_header
from app.domain.roles import Role
from app.services import assignments as assignment_service
from app.services.tabular_uploads import XLSX_MEDIA_TYPE
from tests.factories import make_account, make_partner, partner_bearer

# kind → (path segment, the domain's columns, the operation pushing it)
KINDS = {
    "assignments": ("assignments", assignment_rows.FILE_COLUMNS),
    "payments": ("payment-files", payment_lines.FILE_COLUMNS),
    "spei": ("spei-files", spei_lines.FILE_COLUMNS),
}
# What a dry run must leave untouched.
TABLES = (
    "assignment",
    "assignment_chunk",
    "assignment_rejection",
    "account",
    "account_event",
    "debtor",
    "contact_point",
    "related_party",
    "contact_consent",
    "ledger_entry",
    "payment_file",
    "payment_file_chunk",
    "payment_file_line",
    "payment",
    "audit_event",
)


@pytest.fixture
async def kit(session, settings, make_user, auth_headers):
    partner = await make_partner(session)
    other = await make_partner(session)
    colombian = await make_partner(
        session, country="CO", currency="COP", time_zone="America/Bogota"
    )
    chilean = await make_partner(
        session, country="CL", currency="CLP", time_zone="America/Santiago"
    )
    headers = {
        "system": await partner_bearer(session, settings, partner),
        "other_system": await partner_bearer(session, settings, other),
        "chilean_system": await partner_bearer(session, settings, chilean),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "collector": auth_headers(await make_user(Role.COLLECTOR)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
    }
    await session.commit()
    return {"partner": partner, "colombian": colombian, "chilean": chilean, **headers}


async def table_counts(session) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        counts[table] = await session.scalar(text(f"SELECT count(*) FROM {table}"))
    return counts


async def template(client, kit, kind, fmt, *, who="system", partner=None, language=None):
    partner = partner or kit["partner"]
    headers = dict(kit[who])
    if language:
        headers["Accept-Language"] = language
    return await client.get(
        f"/api/v1/partners/{partner.id}/{KINDS[kind][0]}/template.{fmt}", headers=headers
    )


async def send(client, kit, kind, body, *, who="system", partner=None, media_type="text/csv",
               dry_run=True, key=None, language=None):  # fmt: skip
    partner = partner or kit["partner"]
    headers = {**kit[who], "Content-Type": media_type}
    if key:
        headers["Idempotency-Key"] = key
    if language:
        headers["Accept-Language"] = language
    suffix = "?dry_run=true" if dry_run else ""
    return await client.post(
        f"/api/v1/partners/{partner.id}/{KINDS[kind][0]}{suffix}", content=body, headers=headers
    )


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def names_of(kind: str) -> list[str]:
    return [c.name for c in KINDS[kind][1]]


class TestTemplates:
    @pytest.mark.parametrize("kind", sorted(KINDS))
    async def test_the_csv_template_has_every_column_in_order_and_example_rows(
        self, client, kit, kind
    ):
        response = await template(client, kit, kind, "csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = csv_rows(response.content)
        assert rows[0] == names_of(kind)
        assert 1 <= len(rows) - 1 <= 2
        assert all(len(row) == len(rows[0]) for row in rows)

    @pytest.mark.parametrize("kind", sorted(KINDS))
    async def test_the_workbook_has_a_styled_header_and_a_sheet_describing_each_column(
        self, client, kit, kind
    ):
        response = await template(client, kit, kind, "xlsx", language="es")
        assert response.status_code == 200
        assert response.headers["content-type"] == XLSX_MEDIA_TYPE
        book = load_workbook(io.BytesIO(response.content))
        rows_sheet, columns_sheet = book.worksheets
        header = [cell.value for cell in rows_sheet[1]]
        assert header == names_of(kind)
        assert all(cell.font.bold for cell in rows_sheet[1])
        described = [[cell.value for cell in row] for row in columns_sheet.iter_rows()]
        assert described[0] == ["Columna", "Obligatoria", "Formato", "Ejemplo", "Significado"]
        assert [row[0] for row in described[1:]] == names_of(kind)
        required = {c.name for c in KINDS[kind][1] if c.required}
        assert {row[0] for row in described[1:] if row[1] == "sí"} == required
        # The meanings are in Spanish: the amount's format names the decimal comma so.
        amount = next(row for row in described[1:] if row[0] in ("amount", "principal"))
        assert "coma decimal" in amount[2]

    async def test_amounts_have_the_currency_s_decimals(self, client, kit):
        response = await template(client, kit, "assignments", "csv", who="chilean_system",
                                  partner=kit["chilean"])  # fmt: skip
        rows = csv_rows(response.content)
        header = rows[0]
        first = dict(zip(header, rows[1], strict=True))
        assert first["currency"] == "CLP"
        assert re.fullmatch(r"[0-9]+", first["principal"])
        mx = csv_rows((await template(client, kit, "assignments", "csv")).content)
        assert re.fullmatch(r"[0-9]+\.[0-9]{2}", dict(zip(mx[0], mx[1], strict=True))["total"])

    @pytest.mark.parametrize("kind", sorted(KINDS))
    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    async def test_the_template_pushed_as_it_is_is_accepted(self, client, kit, session, kind, fmt):
        downloaded = await template(client, kit, kind, fmt)
        before = await table_counts(session)
        media_type = "text/csv" if fmt == "csv" else XLSX_MEDIA_TYPE
        response = await send(client, kit, kind, downloaded.content, media_type=media_type)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["dry_run"] is True
        assert report["rejected"] == 0, report["rejections"]
        assert report["rejections"] == []
        assert report["accepted"] == report["received"] == len(csv_rows(
            (await template(client, kit, kind, "csv")).content)) - 1  # fmt: skip
        assert await table_counts(session) == before

    async def test_the_template_of_a_colombian_partner_uses_colombian_ids(
        self, client, kit, settings, session
    ):
        system = await partner_bearer(session, settings, kit["colombian"])
        await session.commit()
        kit = {**kit, "co": system}
        response = await template(client, kit, "assignments", "csv", who="co",
                                  partner=kit["colombian"])  # fmt: skip
        rows = csv_rows(response.content)
        assert dict(zip(rows[0], rows[1], strict=True))["debtor_national_id_type"] == "CC"
        pushed = await send(client, kit, "assignments", response.content, who="co",
                            partner=kit["colombian"])  # fmt: skip
        assert pushed.json()["rejected"] == 0

    async def test_staff_who_push_may_download_and_others_may_not(self, client, kit):
        assert (await template(client, kit, "payments", "csv", who="manager")).status_code == 200
        for who in ("collector", "auditor"):
            response = await template(client, kit, "payments", "csv", who=who)
            assert response.status_code == 403
            assert response.json()["code"] == "permission_denied"

    async def test_another_partner_s_template_is_not_found(self, client, kit):
        response = await template(client, kit, "assignments", "xlsx", who="other_system")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    async def test_spei_templates_are_for_mexican_partners(self, client, kit):
        response = await template(client, kit, "spei", "csv", who="chilean_system",
                                  partner=kit["chilean"])  # fmt: skip
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"


class TestColumnTable:
    @pytest.mark.parametrize(
        ("kind", "path"),
        [
            ("assignments", "/api/v1/partners/{partner_id}/assignments"),
            ("payments", "/api/v1/partners/{partner_id}/payment-files"),
            ("spei", "/api/v1/partners/{partner_id}/spei-files"),
        ],
    )
    def test_the_push_s_description_lists_the_columns_the_reader_accepts(self, app, kind, path):
        description = app.openapi()["paths"][path]["post"]["description"]
        table = [line for line in description.splitlines() if line.startswith("| `")]
        names = [line.split("`")[1] for line in table]
        assert names == names_of(kind)
        marks = [line.split("|")[2].strip() for line in table]
        required = {n for n, mark in zip(names, marks, strict=True) if mark == "yes"}
        assert required == {c.name for c in KINDS[kind][1] if c.required}
        # The header the table documents is the one the reader checks against.
        checks = {
            "assignments": check_header,
            "payments": payment_lines.check_file_header,
            "spei": spei_lines.check_file_header,
        }
        assert checks[kind](names) == []
        assert "dry_run" in description


def assignment_csv(rows: list[dict[str, str]], delimiter: str = ",") -> bytes:
    names = list(assignment_rows.CSV_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(names)
    for row in rows:
        writer.writerow([row.get(n, "") for n in names])
    return buffer.getvalue().encode()


def good_row(ref: str = "DRY-1", **cells: str) -> dict[str, str]:
    return {
        "external_ref": ref,
        "product_type": "revolving",
        "currency": "MXN",
        "principal": "1000.00",
        "interest": "100.00",
        "fees": "0",
        "total": "1100.00",
        "debtor_first_names": "Ana",
        "debtor_last_names": "Prueba",
        "debtor_national_id_type": "CURP",
        "debtor_national_id": "BOXW310820HNERXN09",
        **cells,
    }


class TestAssignmentDryRun:
    async def test_bad_rows_are_reported_as_a_push_reports_them_and_nothing_is_stored(
        self, client, kit, session
    ):
        closed = await make_account(session, kit["partner"], status="closed")
        await session.commit()
        body = assignment_csv([
            good_row("DRY-1"),
            good_row("DRY-2", total="999.00"),
            good_row("DRY-1"),
            good_row("DRY-3", currency="USD", debtor_national_id="BOXW310820HNERXN00"),
            good_row(closed.external_ref),
        ])  # fmt: skip
        before = await table_counts(session)
        response = await send(client, kit, "assignments", body)
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["received"], report["accepted"], report["rejected"]) == (5, 1, 4)
        found = [(r["row_number"], r["field"], r["message"]) for r in report["rejections"]]
        assert found[0] == (3, "total", "must equal principal + interest + fees")
        assert found[1][0:2] == (4, "external_ref")
        assert "more than once in this push (first at row 2)" in found[1][2]
        assert {(n, f) for n, f, _ in found[2:4]} == {(5, "currency"), (5, "debtor.national_id")}
        assert found[4] == (6, "external_ref", "the account is closed")
        assert report["rejections"][4]["external_ref"] == closed.external_ref
        assert report["rejections_truncated"] is False
        assert await table_counts(session) == before

    async def test_reasons_are_in_the_caller_s_language(self, client, kit):
        body = assignment_csv([good_row(total="1.00")])
        response = await send(client, kit, "assignments", body, language="es")
        reason = response.json()["rejections"][0]["message"]
        assert reason == "debe ser igual a capital + intereses + comisiones"

    async def test_json_rows_are_checked_too(self, client, kit):
        body = b'{"rows": [{"external_ref": "J-1"}]}'
        response = await send(client, kit, "assignments", body, media_type="application/json")
        assert response.status_code == 200
        report = response.json()
        assert report["rejected"] == 1
        assert {r["field"] for r in report["rejections"]} >= {"product_type", "principal", "debtor"}

    async def test_a_wrong_header_is_refused_as_a_push_s(self, client, kit):
        response = await send(client, kit, "assignments", b"external_ref,nickname\nA,b\n")
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"

    async def test_another_partner_is_not_found_and_a_collector_is_forbidden(self, client, kit):
        body = assignment_csv([good_row()])
        response = await send(client, kit, "assignments", body, who="other_system")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        response = await send(client, kit, "assignments", body, who="collector")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    async def test_a_dry_run_does_not_use_the_idempotency_key(self, client, kit, session):
        body = assignment_csv([good_row()])
        tried = await send(client, kit, "assignments", body, key="push-1")
        assert tried.status_code == 200
        pushed = await send(client, kit, "assignments", body, key="push-1", dry_run=False)
        assert pushed.status_code == 202
        assert "idempotent-replayed" not in pushed.headers
        # A dry run needs no key at all; the real push without one is refused.
        assert (await send(client, kit, "assignments", body)).status_code == 200
        refused = await send(client, kit, "assignments", body, dry_run=False)
        assert refused.status_code == 400
        assert refused.json()["code"] == "idempotency_key_required"


class TestPaymentFileDryRun:
    async def test_unreadable_lines_are_rejected_and_nothing_is_applied(self, client, kit, session):
        account = await make_account(session, kit["partner"], dpd=40)
        await session.commit()
        header = names_of("payments")
        lines = [
            [account.external_ref, "", "100.00", "MXN", "2025-10-01", "spei", "TRK-1"],
            [account.external_ref, "", "-5", "MXN", "2025-10-01", "spei", "TRK-2"],
            ["", "", "10.00", "", "2999-01-01", "carrier_pigeon", ""],
        ]
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *lines])
        before = await table_counts(session)
        response = await send(client, kit, "payments", buffer.getvalue().encode())
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["received"], report["accepted"], report["rejected"]) == (3, 1, 2)
        fields = [(r["row_number"], r["field"]) for r in report["rejections"]]
        assert fields[0] == (3, "amount")
        assert {f for n, f in fields if n == 4} == {
            "external_ref",
            "paid_on",
            "channel",
            "payer_reference",
        }
        assert report["rejections"][0]["external_ref"] == account.external_ref
        assert await table_counts(session) == before

    async def test_json_is_not_a_payment_file(self, client, kit):
        response = await send(client, kit, "payments", b"{}", media_type="application/json")
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"

    async def test_another_partner_is_not_found(self, client, kit):
        response = await send(client, kit, "payments", b"amount\n1\n", who="other_system")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


class TestSpeiDryRun:
    async def test_bad_deposits_are_rejected(self, client, kit, session):
        body = (
            b"amount,date,beneficiary_clabe,tracking_key\n"
            b"150.00,2025-10-01,646180000000000017,ABC123\n"
            b"150.00,2025-10-01,12345,ABC-124\n"
        )
        before = await table_counts(session)
        report = (await send(client, kit, "spei", body)).json()
        assert (report["accepted"], report["rejected"]) == (1, 1)
        assert {r["field"] for r in report["rejections"]} == {"beneficiary_clabe", "tracking_key"}
        assert await table_counts(session) == before

    async def test_a_chilean_partner_has_no_spei_statements(self, client, kit):
        body = b"amount,date,beneficiary_clabe,tracking_key\n"
        response = await send(client, kit, "spei", body, who="chilean_system",
                              partner=kit["chilean"])  # fmt: skip
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"


class TestDecimalCommas:
    async def test_a_semicolon_file_reads_decimal_commas(self, client, kit):
        row = good_row(principal="1.234,56", interest="100,00", fees="0", total="1334,56")
        report = (await send(client, kit, "assignments", assignment_csv([row], ";"))).json()
        assert report["rejected"] == 0, report["rejections"]

    async def test_a_thousands_point_alone_is_ambiguous_in_a_semicolon_file(self, client, kit):
        row = good_row(principal="1.000", interest="100", fees="0", total="1100")
        report = (await send(client, kit, "assignments", assignment_csv([row], ";"))).json()
        assert [(r["field"], r["message"]) for r in report["rejections"]] == [
            ("principal", "is ambiguous: with a decimal comma, write 1234 or 1234,00 "
                          "without thousands points"),
        ]  # fmt: skip

    async def test_a_comma_file_never_reads_a_decimal_comma(self, client, kit):
        row = good_row(principal="1000,00", interest="100.00", fees="0", total="1100.00")
        report = (await send(client, kit, "assignments", assignment_csv([row]))).json()
        assert [r["field"] for r in report["rejections"]] == ["principal"]

    async def test_a_pushed_semicolon_file_stores_the_amounts_it_wrote(self, client, kit, session):
        row = good_row("COMMA-1", principal="1.234,56", interest="0,44", fees="0", total="1235,00")
        response = await send(client, kit, "assignments", assignment_csv([row], ";"),
                              dry_run=False, key="comma-1")  # fmt: skip
        assert response.status_code == 202
        done = await assignment_service.process_assignment(
            session, uuid.UUID(response.json()["id"]), workers=0
        )
        assert (done.created, done.rejected) == (1, 0)
        stored = await session.execute(
            text("SELECT principal, interest, total FROM account WHERE external_ref = 'COMMA-1'")
        )
        assert [str(v) for v in stored.one()] == ["1234.56", "0.44", "1235.00"]

    async def test_a_payment_file_with_semicolons_reads_decimal_commas(self, client, kit):
        body = "external_ref;amount;paid_on;payer_reference\nX-1;1.500,25;2025-10-01;T-1\n"
        report = (await send(client, kit, "payments", body.encode())).json()
        assert (report["accepted"], report["rejected"]) == (1, 0)


async def test_a_big_file_is_validated_in_batches(client, kit, session):
    """More rows than a batch: counts and duplicates hold across batches."""
    rows = [good_row(f"BIG-{n}") for n in range(assignment_service.BATCH_ROWS + 5)]
    rows.append(good_row("BIG-3"))
    report = (await send(client, kit, "assignments", assignment_csv(rows))).json()
    assert report["received"] == len(rows)
    assert report["rejected"] == 1
    assert report["rejections"][0]["row_number"] == len(rows) + 1


async def test_an_xlsx_with_bad_rows_is_reported(client, kit):
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(assignment_rows.CSV_COLUMNS))
    sheet.append([good_row(fees="1").get(n) for n in assignment_rows.CSV_COLUMNS])
    buffer = io.BytesIO()
    book.save(buffer)
    report = (await send(client, kit, "assignments", buffer.getvalue(),
                         media_type=XLSX_MEDIA_TYPE)).json()  # fmt: skip
    assert [(r["row_number"], r["field"]) for r in report["rejections"]] == [(2, "total")]
