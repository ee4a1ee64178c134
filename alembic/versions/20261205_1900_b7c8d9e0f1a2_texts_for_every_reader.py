"""Upload refusals are kept as their text's template and values, for every reader's language

A row's or a line's refusal, and why a push or a payment file failed, were stored as English
text only. Each now also keeps the text as its English template and values (app/i18n.py
`Message.to_json`), so that it is read in the reader's language: `message_text` on
`assignment_rejection`, `failure_text` on `assignment` and `payment_file`, `detail_text` on
`payment_file_line`. The English columns stay as they were (exports, older rows): a row
without the template is translated from its English where the catalogue has it.

Downgrade drops the four columns; the English texts remain.

Revision ID: b7c8d9e0f1a2
Revises: f6539cbe0280
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "b7c8d9e0f1a2"
down_revision: str | None = "f6539cbe0280"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("assignment_rejection", "message_text"),
    ("assignment", "failure_text"),
    ("payment_file", "failure_text"),
    ("payment_file_line", "detail_text"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(column, postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column)
