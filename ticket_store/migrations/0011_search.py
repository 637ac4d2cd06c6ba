import logging

from tortoise import migrations
from tortoise.migrations import operations as ops

from peygir.ticket_store.search import fold_sql, joined_sql, phone_key_sql, sqlite_fold_steps

# Ticket search (ticket_store/search.py). What is indexed is the folded text of a ticket's
# report and transcript, computed in SQL from ticket_store.search.FOLD: if that table changes,
# a later migration must rerun these statements (drop and rebuild) so stored and typed text
# keep meeting.
#
# SQLite: an FTS5 table with the trigram tokenizer, rowid = ticket.id, kept in step by
# triggers, so every writer (dialogue, Open311, retention's anonymising) updates it.
# PostgreSQL: an immutable SQL function for the folded text, a stored generated column of it
# (ticket.search_text, which the ORM model does not name) and a pg_trgm GIN index on that.
# pg_trgm is created only where this database role may (a superuser, or a trusted extension
# and CREATE on the database); without it the search works as a scan, and the log says so.

log = logging.getLogger(__name__)



def _sqlite_fold(source: str, row: str = "") -> list[str]:
    """Statements folding the rows ``source`` selects (``id, text``) into the scratch table,
    then into the FTS table; ``row``: only this ticket id (a trigger's new.id)."""
    where = f" WHERE id = {row}" if row else ""
    first, *later = sqlite_fold_steps("text")
    return [
        f"INSERT OR REPLACE INTO ticket_search_fold(id, body) SELECT id, {first} FROM ({source})",
        *(f"UPDATE ticket_search_fold SET body = {step}{where}" for step in later),
        f"INSERT INTO ticket_search(rowid, body) SELECT id, body FROM ticket_search_fold{where}",
        f"DELETE FROM ticket_search_fold{where}",
    ]


# A phone search reaches the tickets from the citizen; the foreign key had no index.
_CITIZEN_TICKETS = "CREATE INDEX IF NOT EXISTS ticket_citizen_search ON ticket (citizen_id)"
_NEW = f"SELECT new.id AS id, {joined_sql('new.description', 'new.transcript')} AS text"
_ALL = f"SELECT id, {joined_sql('description', 'transcript')} AS text FROM ticket"
_SQLITE_FORWARD = [
    # SQLite's parser takes only ~29 nested calls: the fold runs in steps, through a scratch
    # table that is empty between statements.
    "CREATE TABLE ticket_search_fold (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE ticket_search USING fts5(body, tokenize='trigram')",
    *_sqlite_fold(_ALL),
    "CREATE TRIGGER ticket_search_insert AFTER INSERT ON ticket BEGIN "
    + "; ".join(_sqlite_fold(_NEW, "new.id")) + "; END",
    "CREATE TRIGGER ticket_search_update AFTER UPDATE OF description, transcript ON ticket "
    "WHEN old.description IS NOT new.description OR old.transcript IS NOT new.transcript "
    "BEGIN DELETE FROM ticket_search WHERE rowid = old.id; "
    + "; ".join(_sqlite_fold(_NEW, "new.id")) + "; END",
    "CREATE TRIGGER ticket_search_delete AFTER DELETE ON ticket BEGIN "
    "DELETE FROM ticket_search WHERE rowid = old.id; END",
    f"CREATE INDEX citizen_phone_key ON citizen ({phone_key_sql('phone', 'sqlite')})",
    _CITIZEN_TICKETS,
]
_SQLITE_BACKWARD = [
    "DROP INDEX IF EXISTS ticket_citizen_search",
    "DROP INDEX IF EXISTS citizen_phone_key",
    "DROP TRIGGER IF EXISTS ticket_search_delete",
    "DROP TRIGGER IF EXISTS ticket_search_update",
    "DROP TRIGGER IF EXISTS ticket_search_insert",
    "DROP TABLE IF EXISTS ticket_search",
    "DROP TABLE IF EXISTS ticket_search_fold",
]

_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION peygir_search_text(description text, transcript text) "
    "RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fold$ SELECT "
    + fold_sql(joined_sql("$1", "$2")) + " $fold$"
)
# A stored generated column rather than an index on the expression: a trigram match is
# rechecked on every candidate row, and recomputing the fold there (a translate over the
# whole text) made a search of a common word read like a scan.
_PG_COLUMN = ("ALTER TABLE ticket ADD COLUMN search_text text GENERATED ALWAYS AS "
              "(peygir_search_text(description, transcript)) STORED")
_PG_INDEX = "CREATE INDEX ticket_search_trgm ON ticket USING gin (search_text gin_trgm_ops)"
_PG_BACKWARD = [
    "DROP INDEX IF EXISTS ticket_citizen_search",
    "DROP INDEX IF EXISTS citizen_phone_key",
    "DROP INDEX IF EXISTS ticket_search_trgm",
    "ALTER TABLE ticket DROP COLUMN IF EXISTS search_text",
    "DROP FUNCTION IF EXISTS peygir_search_text(text, text)",
]
_PG_TRGM = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS installed,
       COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
           AS superuser,
       COALESCE((SELECT bool_or(trusted) FROM pg_available_extension_versions
                 WHERE name = 'pg_trgm'), false) AS trusted,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') AS available,
       has_database_privilege(current_database(), 'CREATE') AS may_create
"""


def _dialect(schema_editor) -> str:
    return schema_editor.client.capabilities.dialect


async def forward(apps, schema_editor) -> None:
    if _dialect(schema_editor) != "postgres":
        for sql in _SQLITE_FORWARD:
            # One statement each: the editor's own runner splits at every «;», the
            # triggers' included.
            await schema_editor.client.execute_query(sql)
        return
    await schema_editor._run_sql(_PG_FUNCTION)
    await schema_editor._run_sql(_PG_COLUMN)
    await schema_editor._run_sql(
        f"CREATE INDEX citizen_phone_key ON citizen (({phone_key_sql('phone', 'postgres')}))")
    await schema_editor._run_sql(_CITIZEN_TICKETS)
    # Asked first rather than tried: a failed CREATE EXTENSION would abort the transaction.
    rows = await schema_editor.client.execute_query_dict(_PG_TRGM)
    state = rows[0]
    if not state["installed"]:
        if not (state["available"] and (state["superuser"]
                                         or (state["trusted"] and state["may_create"]))):
            log.warning("pg_trgm is not installed and this role may not create it: ticket "
                        "search will scan the tickets. Run CREATE EXTENSION pg_trgm as a "
                        "superuser, then CREATE INDEX as in migration 0011, to index it.")
            return
        # In public, which every city's search path ends with (PEYGIR_CITY: one schema each).
        await schema_editor._run_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    await schema_editor._run_sql(_PG_INDEX)


async def backward(apps, schema_editor) -> None:
    for sql in _PG_BACKWARD if _dialect(schema_editor) == "postgres" else _SQLITE_BACKWARD:
        await schema_editor._run_sql(sql)


class Migration(migrations.Migration):
    dependencies = [('peygir', '0010_example_sources')]

    initial = False

    operations = [
        ops.RunPython(forward, backward),
    ]
