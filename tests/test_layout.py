"""The test tree's own rule: a test module never imports from another test module. Shared
helpers live in ``tests/factories.py`` and ``tests/helpers/``, shared fixtures in a
``conftest.py``, so a test file can be moved, split or deleted without breaking another."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parent


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


# Read with a pattern, not ast.parse: CPython 3.11's parser may fail with "AST constructor
# recursion depth mismatch" when called deep inside a test worker's stack.
_FROM_LINE = re.compile(r"^[ \t]*from (tests(?:\.\w+)*) import (\([^)]*\)|[^\n]*)", re.M)
_IMPORT_LINE = re.compile(r"^[ \t]*import (tests(?:\.\w+)+)", re.M)


def imports_of_test_modules(source: str) -> list[str]:
    """The test modules a source file imports (``from tests.api.test_x import y``,
    ``from tests.api import test_x``, ``import tests.api.test_x``)."""
    found: list[tuple[int, str]] = []
    for match in _FROM_LINE.finditer(source):
        module, names = match.group(1), match.group(2)
        if _is_test_module(module):
            found.append((match.start(), module))
        for name in re.findall(r"\b(test_\w+)\b", re.sub(r"#[^\n]*", "", names)):
            found.append((match.start(), f"{module}.{name}"))
    for match in _IMPORT_LINE.finditer(source):
        if _is_test_module(match.group(1)):
            found.append((match.start(), match.group(1)))
    return [name for _, name in sorted(found)]


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
