"""docs/scale-out.md places every table of the schema (issue 21): a table with a
``partner_id`` column is distributed by it unless the page lists it as reference or
coordinator-local; every other table is listed (to gain the column, or as reference or
coordinator-local), and no table is listed twice or under a name the schema lacks."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from sqlmodel import SQLModel

import app.models

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
SECTIONS = ("Gain `partner_id`", "Reference", "Coordinator-local")


def _tables() -> dict[str, bool]:
    for module in pkgutil.iter_modules(app.models.__path__):
        importlib.import_module(f"app.models.{module.name}")
    return {name: "partner_id" in t.c for name, t in SQLModel.metadata.tables.items()}


def _listed() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    placement = text.split("## Placement of every table", 1)[1]
    found: dict[str, list[str]] = {}
    for block in re.split(r"^### ", placement, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        section = next(s for s in SECTIONS if heading.startswith(s))
        found[section] = re.findall(r"^- `([a-z_]+)`", body, flags=re.M)
    return found


def test_every_table_is_placed_once():
    tables = _tables()
    listed = _listed()
    assert set(listed) == set(SECTIONS)
    names = [name for section in listed.values() for name in section]
    assert len(names) == len(set(names)), "a table listed twice"
    assert set(names) <= set(tables), set(names) - set(tables)
    unplaced = {name for name, keyed in tables.items() if not keyed and name not in names}
    assert unplaced == set(), f"tables with no partner_id and no place: {sorted(unplaced)}"


def test_tables_to_gain_partner_id_lack_it_today():
    tables = _tables()
    gaining = _listed()["Gain `partner_id`"]
    assert gaining and all(not tables[name] for name in gaining)
