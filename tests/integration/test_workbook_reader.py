"""The bounded workbook reader (app/services/workbooks.py) gives the values openpyxl gives:
every cell type, dates by style (1900 and 1904), rich and phonetic text, rows and cells
without references, gaps and rows out of order, prefixed namespaces."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from app.services import workbooks
from app.services.workbooks import DEFAULT_LIMITS

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def openpyxl_rows(body: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    try:
        return [_trim(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def reader_rows(body: bytes) -> list[list[Any]]:
    return [_trim(row) for row in workbooks.sheet_rows(io.BytesIO(body), DEFAULT_LIMITS, 200)]


def _trim(row: Any) -> list[Any]:
    values = list(row)
    while values and values[-1] is None:
        values.pop()
    return values


def hand_made(
    sheet: str, *, strings: str | None = None, styles: str | None = None, date1904: bool = False
) -> bytes:
    """A workbook from the given parts' XML (the sheet's content goes inside its root)."""
    parts = {
        "xl/worksheets/sheet1.xml": ("worksheet", f'<worksheet xmlns="{MAIN}">{sheet}</worksheet>')
    }
    if strings is not None:
        parts["xl/sharedStrings.xml"] = ("sharedStrings", f'<sst xmlns="{MAIN}">{strings}</sst>')
    if styles is not None:
        parts["xl/styles.xml"] = ("styles", f'<styleSheet xmlns="{MAIN}">{styles}</styleSheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        overrides = "".join(
            f'<Override PartName="/{name}" ContentType="{SPREADSHEET}.{kind}+xml"/>'
            for name, (kind, _) in parts.items()
        )
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{SPREADSHEET}.sheet.main+xml"/>'
            f"{overrides}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" '
            f'Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
            f'<workbookPr date1904="{int(date1904)}"/><sheets>'
            '<sheet name="Cartera" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PACKAGE}">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{RELS}/{kind}" Target="{name[3:]}"/>'
                for n, (name, (kind, _)) in enumerate(parts.items(), start=1)
            )
            + "</Relationships>",
        )
        for name, (_, xml) in parts.items():
            archive.writestr(name, xml)
    return buffer.getvalue()


_XF = '<xf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0"/>'
STYLES = (
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="[h]:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/></font></fonts><fills count="1"><fill><patternFill '
    'patternType="none"/></fill></fills><borders count="1"><border><left/><right/><top/>'
    '<bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" '
    'fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="5">'
    + "".join(_XF % number for number in (0, 14, 164, 165, 4))
    + '</cellXfs><dxfs count="1"><dxf><numFmt numFmtId="166" formatCode="yyyy"/></dxf></dxfs>'
)


CASES = {
    "every type": (
        '<sheetData><row r="1">'
        '<c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1"><v>42</v></c>'
        '<c r="D1"><v>4.25</v></c><c r="E1"><v>1E3</v></c><c r="F1" t="b"><v>1</v></c>'
        '<c r="G1" t="str"><f>A1&amp;B1</f><v>ab</v></c><c r="H1" t="e"><v>#N/A</v></c>'
        '<c r="I1" t="d"><v>2026-03-01</v></c><c r="J1" t="d"><v>2026-03-01T10:30:00</v></c>'
        '<c r="K1" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c>'
        '<c r="L1" t="inlineStr"><is><r><rPr><b/></rPr><t>rich</t></r><r><t> text</t></r>'
        '<rPh sb="0" eb="1"><t>フリガナ</t></rPh></is></c>'
        '<c r="M1"><f>1+1</f></c><c r="N1" t="s"><v>2</v></c><c r="O1"><v></v></c>'
        "</row></sheetData>",
        "<si><t>uno</t></si><si><r><t>do</t></r><r><t>s</t></r>"
        '<rPh sb="0" eb="1"><t>x</t></rPh></si>'
        "<si><t>_x005F_x000D_ kept</t></si>",
    ),
    "dates by style": (
        '<sheetData><row r="1"><c r="A1" s="1"><v>46082</v></c><c r="B1" s="2"><v>46082.5</v>'
        '</c><c r="C1" s="3"><v>1.25</v></c><c r="D1" s="4"><v>46082</v></c>'
        '<c r="E1" s="1"><v>0.5</v></c><c r="F1" s="1"><v>30</v></c><c r="G1" s="1" t="s">'
        '<v>0</v></c><c r="H1" s="1"><v>99999999</v></c><c r="I1" s="9"><v>46082</v></c>'
        "</row></sheetData>",
        "<si><t>text styled as a date</t></si>",
    ),
    "no references, gaps and disorder": (
        "<sheetData><row><c><v>1</v></c><c><v>2</v></c></row>"
        '<row r="4"><c r="C4"><v>3</v></c><c><v>4</v></c></row>'
        '<row r="3"><c r="A3"><v>5</v></c></row>'
        '<row r="6" spans="1:2"><c r="B6" t="inlineStr"><is><t>six</t></is></c></row>'
        '<row r="7"/></sheetData>',
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_reader_gives_what_openpyxl_gives(case):
    sheet, strings = CASES[case]
    body = hand_made(sheet, strings=strings, styles=STYLES)
    assert reader_rows(body) == openpyxl_rows(body)


def test_dates_of_a_1904_workbook():
    body = hand_made(
        '<sheetData><row r="1"><c r="A1" s="1"><v>44620</v></c></row></sheetData>',
        styles=STYLES,
        date1904=True,
    )
    assert reader_rows(body) == openpyxl_rows(body) == [[datetime(2026, 3, 1)]]


def test_a_prefixed_namespace_is_read():
    body = hand_made("")
    sheet = (
        f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr">'
        "<x:is><x:t>prefixed</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, sheet if info.filename.endswith("sheet1.xml") else data)
    assert reader_rows(buffer.getvalue()) == openpyxl_rows(buffer.getvalue()) == [["prefixed"]]


def test_an_openpyxl_workbook_reads_the_same():
    book = Workbook()
    sheet = book.active
    sheet.append(["external_ref", "amount", "paid_on", "at", "ok", "note"])
    sheet.append(["A-1", 125.5, date(2026, 3, 1), datetime(2026, 3, 1, 9, 30), True, None])
    sheet.append(["A-2", 7, date(1900, 2, 27), time(12, 0), False, "ñandú & <tags>"])
    sheet["B4"] = "=SUM(B2:B3)"
    sheet.append([])
    sheet.append(["A-3", -0.1, None, None, None, "x" * 1000])
    buffer = io.BytesIO()
    book.save(buffer)
    body = buffer.getvalue()
    assert reader_rows(body) == openpyxl_rows(body)
    assert reader_rows(body)[1][:3] == ["A-1", 125.5, datetime(2026, 3, 1)]


def test_the_header_read_at_upload_is_the_first_row():
    sheet, strings = CASES["every type"]
    body = hand_made(sheet, strings=strings, styles=STYLES)
    first = workbooks.check_upload(io.BytesIO(body), DEFAULT_LIMITS, 200)
    assert _trim(first) == openpyxl_rows(body)[0]
