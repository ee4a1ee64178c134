"""What the benchmarks share: synthetic portfolio rows (realistic shape, valid ids and
phones) and the database they run on."""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from stdnum.mx import curp

HEADER = [
    "external_ref", "product_type", "currency", "original_amount", "principal", "interest",
    "fees", "total", "past_due_amount", "oldest_unpaid_due_date", "last_payment_date",
    "last_payment_amount", "debtor_first_names", "debtor_last_names",
    "debtor_national_id_type", "debtor_national_id", "debtor_birth_date", "debtor_phones",
    "debtor_emails", "address_line", "address_state", "address_municipality",
    "address_postal_code", "reference1_name", "reference1_relationship", "reference1_phones",
]  # fmt: skip

STATES = ["Ciudad de México", "Jalisco", "Nuevo León", "Sonora", "Quintana Roo", "Baja California"]
AREAS = ["55", "33", "81", "662", "998", "664"]
LETTERS = "ABCDEFGHIJKLMNPQRSTUVWXYZ"


def _curp(n: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=n % 20000)
    name = "".join(LETTERS[(n // 20000 // 25**i) % 25] for i in range(4))
    base = f"{name[0]}A{name[1:3]}{born:%y%m%d}HDF{name[2:]}XX{n % 10}"[:17]
    return base + curp.calc_check_digit(base)


def rows(count: int, *, as_of: date, seed: int = 7, prefix: str = "B") -> Iterator[list[str]]:
    rng = random.Random(seed)
    for n in range(count):
        principal = rng.randint(1_000, 500_000)
        interest = rng.randint(0, 50_000)
        fees = rng.randint(0, 2_000)
        total = principal + interest + fees
        dpd = rng.randint(-10, 400)
        area = rng.randrange(len(AREAS))
        local = f"{rng.randint(0, 10 ** (10 - len(AREAS[area])) - 1):0{10 - len(AREAS[area])}d}"
        yield [
            f"{prefix}-{n:08d}", rng.choice(("revolving", "installment", "single_payment")), "MXN",
            f"{total + 1000}.00", f"{principal}.00", f"{interest}.50", f"{fees}.00",
            f"{total}.50", f"{min(total, principal // 3)}.00",
            (as_of - timedelta(days=dpd)).isoformat() if dpd > 0 else "",
            "", "", "María José", "Hernández López", "CURP", _curp(n), "",
            f"{AREAS[area]} {local[:4]} {local[4:]}", f"cliente{n}@example.mx",
            f"Calle {n % 500} #{n % 97}", STATES[area], "Centro", f"{10000 + n % 89999:05d}",
            "Pedro Hernández", "brother", f"33 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        ]  # fmt: skip


def write_csv(path: Path, count: int, *, as_of: date, prefix: str = "B") -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows(count, as_of=as_of, prefix=prefix))
    return path.stat().st_size


@contextmanager
def database() -> Iterator[str]:
    """CARTERA_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL."""
    from app.config import get_settings
    from app.db import EmbeddedPostgres

    configured = get_settings().async_database_url
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cartera-bench-")), delete_on_stop=True)
    try:
        yield server.start()
    finally:
        server.stop()
