"""kyc search: unaccent and trigram indexes

KYC search by name (app/services/kyc.py) is accent- and case-insensitive and fuzzy: it
compares ``lower(cartera_unaccent((debtor_first_names || ' ') || debtor_last_names))`` of
each account (the names as its partner sent them) with the query through pg_trgm's ``%``
operator and ``similarity()``. The parentheses are spelled out as PostgreSQL shows the
expression back, so that the model's declaration of the index compares equal in
``alembic check``.

``unaccent()`` itself is only STABLE (its dictionary could change), so it cannot appear in
an index; ``cartera_unaccent`` is the usual IMMUTABLE wrapper, naming the extension's
schema and dictionary explicitly so that it does not depend on the ``search_path`` (index
builds, dumps and restores run with an empty one).

The extensions are created if missing and left in place on downgrade: other objects (or
other databases' habits) may use them, and dropping an extension needs more rights than
using it.

Revision ID: b2c3d4e5f6a7
Revises: a1b2c3d4e5f6
Create Date: 2026-11-24 23:20:00.000000+00:00
"""

from collections.abc import Sequence

from sqlalchemy import text

from alembic import op

revision: str = "b2c3d4e5f6a7"
down_revision: str | None = "a1b2c3d4e5f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_account_debtor_name_trgm"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = op.get_bind().scalar(
        text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'unaccent'")
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION cartera_unaccent(text) RETURNS text"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT"
        f" AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1) $$"
    )
    op.execute(
        f"CREATE INDEX {INDEX} ON account USING gin"
        " (lower(cartera_unaccent((debtor_first_names || ' ') || debtor_last_names))"
        " gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute("DROP FUNCTION IF EXISTS cartera_unaccent(text)")
