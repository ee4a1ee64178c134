"""The test tree's own rule: a test module never imports from another test module. Shared
helpers live in ``tests/factories.py`` and ``tests/helpers/``, shared fixtures in a
``conftest.py``, so a test file can be moved, split or deleted without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


def imports_of_test_modules(source: str) -> list[str]:
    """The test modules a source file imports (``from tests.api.test_x import y``,
    ``from tests.api import test_x``, ``import tests.api.test_x``)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
            if _is_test_module(node.module):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("test_")]
        elif isinstance(node, ast.Import):
            found += [
                a.name
                for a in node.names
                if a.name.startswith("tests.") and _is_test_module(a.name)
            ]
    return found


def test_the_rule_sees_each_form_of_import():
    source = (
        "from tests.api.test_plans import propose\n"
        "from tests.api import test_payments\n"
        "import tests.domain.test_i18n\n"
        "from tests.helpers.plans import propose\n"
        "from tests.factories import make_account\n"
    )
    assert imports_of_test_modules(source) == [
        "tests.api.test_plans",
        "tests.api.test_payments",
        "tests.domain.test_i18n",
    ]


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(TESTS)): imports_of_test_modules(path.read_text(encoding="utf-8"))
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}
