"""The job queue: procrastinate's schema (tables, types, functions, triggers)

Background work runs as procrastinate jobs (app/jobs/). The schema is the one shipped with
the installed procrastinate (``SchemaManager.get_schema()``, read when this migration runs),
so it matches the library the workers use. A later procrastinate release that changes its
schema ships SQL migrations of its own (``SchemaManager.get_migrations_path()``): they are
applied by a Cartera migration written with that upgrade.

Uploads still waiting when this runs have no job yet: the workers' ``cartera.requeue_lost``
task queues one for each within a minute.

Downgrade drops every ``procrastinate_*`` table, function and type (queued jobs are lost;
the uploads stay ``queued`` and are queued again after an upgrade).

Revision ID: 3b4d02bebd19
Revises: 10a78b71e08c
Create Date: 2026-12-06 05:20:00.000000+00:00
"""

from collections.abc import Sequence

from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

from alembic import op

revision: str = "3b4d02bebd19"
down_revision: str | None = "10a78b71e08c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP = """
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r'
          AND c.relname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.relname);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
    END LOOP;
    FOR item IN
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
          AND t.typtype IN ('c', 'e')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind = 'r')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END
$$
"""


def _run_script(sql: str) -> None:
    # Many statements with dollar-quoted bodies: sent as one simple query by the driver
    # (SQLAlchemy's text() would read ":name" inside them as parameters).
    driver = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    await_only(driver.execute(sql))


def upgrade() -> None:
    _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    _run_script(DROP)
