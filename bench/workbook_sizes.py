"""How large an assignment workbook's parts are, and what reading one costs: the figures the
workbook bounds in app/config.py (``workbook_*``) are chosen from.

    python bench/workbook_sizes.py --rows 100000

Writes the bench's rows (every documented column) twice: shaped as Excel saves a workbook
(text in the shared strings; ``common.write_xlsx``) and as openpyxl's write-only mode does
(inline strings); prints each part's size, the bytes per row and those sizes at Excel's
largest sheet, 1,048,576 rows. Then reads the Excel-shaped one with the app's reader and
prints the time and the process's peak memory above what it was before (Linux only).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import HEADER, rows, write_xlsx

EXCEL_ROWS = 1_048_576


def _kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) if found else 0


def _parts(path: Path, count: int) -> dict[str, dict[str, float]]:
    with zipfile.ZipFile(path) as archive:
        return {
            info.filename: {
                "bytes": info.file_size,
                "compressed": info.compress_size,
                "bytes_per_row": round(info.file_size / count, 1),
                "at_excel_max_rows": round(info.file_size / count * EXCEL_ROWS),
            }
            for info in archive.infolist()
            if info.file_size > 64 * 1024
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-openpyxl", action="store_true")
    count = parser.parse_args().rows
    result: dict[str, object] = {"rows": count, "columns": len(HEADER)}
    with tempfile.TemporaryDirectory(prefix="cartera-bench-") as folder:
        excel = Path(folder) / "excel.xlsx"
        write_xlsx(excel, HEADER, rows(count, as_of=date(2026, 12, 1)))
        result["excel_shaped"] = {"upload_bytes": excel.stat().st_size, **_parts(excel, count)}
        if not parser.parse_args().skip_openpyxl:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("Cartera")
            sheet.append(HEADER)
            for row in rows(count, as_of=date(2026, 12, 1)):
                sheet.append(row)
            written = Path(folder) / "openpyxl.xlsx"
            book.save(written)
            result["openpyxl_shaped"] = {
                "upload_bytes": written.stat().st_size,
                **_parts(written, count),
            }

        from app.services import workbooks
        from app.services.tabular_uploads import MAX_COLUMNS

        Path("/proc/self/clear_refs").write_text("5")
        before = _kib("VmRSS")
        started = time.perf_counter()
        with excel.open("rb") as handle:
            workbooks.check_upload(handle, workbooks.DEFAULT_LIMITS, MAX_COLUMNS)
        checked = time.perf_counter()
        with excel.open("rb") as handle:
            read = sum(1 for _ in workbooks.sheet_rows(handle, workbooks.DEFAULT_LIMITS, 200))
        result["reader"] = {
            "upload_check_seconds": round(checked - started, 2),
            "rows_read": read,
            "read_seconds": round(time.perf_counter() - checked, 2),
            "peak_rss_growth_mib": round((_kib("VmHWM") - before) / 1024, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
