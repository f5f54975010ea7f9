"""Where text a person types is run: a reader's session, never the warehouse owner's.

``tallyhouse sql``, ``tallyhouse metrics`` (its filters end up in the SQL MetricFlow writes)
and anything else that runs a query built from what somebody typed go through
:func:`run_read_only`. It connects as a reader login (``tallyhouse_analyst`` by default, see
``tallyhouse.roles``) and, before the typed text is sent, checks that the session

* is not a superuser and owns nothing in the warehouse's schemas (a misconfigured reader URL
  pointing at the owner is refused, not used), and
* is read-only by the role's own settings (``default_transaction_read_only``), not by a
  ``set transaction`` this code would send — which a typed ``COMMIT`` could end.

The text is then sent as one statement over the extended query protocol (psycopg 3, a
prepared statement): PostgreSQL itself refuses a second statement ("cannot insert multiple
commands into a prepared statement"), so ``…; COMMIT; COPY … TO PROGRAM …`` never runs, whatever
the string looks like. Three independent walls: privileges (``select`` on the marts only),
the read-only session, one statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from tallyhouse import db, roles


class RefusedQuery(Exception):
    """The query was not run, or the warehouse refused it; the message says why."""


class NotBuilt(RefusedQuery):
    """The query reads a relation that does not exist yet (the marts are not built)."""


@dataclass
class Rows:
    columns: list[str]
    rows: list[tuple]


# a reader owns nothing: no table, view, schema, function or sequence of the warehouse
_GUARD = """
select current_user,
       r.rolsuper,
       current_setting('transaction_read_only') = 'on' as read_only,
       exists (select from pg_namespace where nspowner = r.oid)
         or exists (select from pg_class where relowner = r.oid)
         or exists (select from pg_proc where proowner = r.oid) as owns
from pg_roles as r where r.rolname = current_user
"""


def reader_conninfo(role: str = roles.ANALYST, url: str | None = None) -> str:
    """The reader's connection (its URL: TALLYHOUSE_ANALYST_DATABASE_URL or the warehouse's
    server as the reader role); sets the roles up first where they are ours to set up."""
    url = url or db.database_url()
    if not roles.reader_url_configured(role):
        roles.ensure_roles(url)
    return roles.analyst_url(url) if role == roles.ANALYST else roles.dashboard_url(url)


def run_read_only(text: str, conninfo: str, params: dict | None = None,
                  limit: int | None = None) -> Rows:
    """Run one statement typed by a person in a reader's read-only session; its rows."""
    import psycopg
    from psycopg import errors

    text = text.strip()
    if not text:
        raise RefusedQuery("nothing to run")
    try:
        conn = psycopg.connect(conninfo, application_name="tallyhouse reader",
                               autocommit=False, options=reader_options())
    except psycopg.OperationalError as error:
        raise RefusedQuery(f"cannot connect as a reader ({db.redact(str(error)).strip()}); "
                           "run `tallyhouse db roles` or set "
                           f"{roles.ANALYST_URL_ENV}") from error
    try:
        with conn.cursor() as cur:
            cur.execute(_GUARD)
            user, superuser, read_only, owns = cur.fetchone()
            if superuser or owns:
                raise RefusedQuery(
                    f"refusing to run typed SQL as {user}: it is "
                    f"{'a superuser' if superuser else 'an owner of warehouse objects'}; "
                    f"connect as a reader ({roles.ANALYST_URL_ENV} / `tallyhouse db roles`)")
            if not read_only:
                raise RefusedQuery(
                    f"refusing to run typed SQL as {user}: its sessions are not read-only by "
                    "its settings; run `tallyhouse db roles` (or `tallyhouse db roles --login "
                    f"{user}`)")
            conn.rollback()  # the guard's transaction ends; the statement starts its own
            # prepare=True: the extended protocol, where a second statement is an error
            cur.execute(text, params or None, prepare=True)
            if cur.description is None:
                return Rows([], [])
            columns = [c.name for c in cur.description]
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
            return Rows(columns, [tuple(r) for r in rows])
    except errors.UndefinedTable as error:
        raise NotBuilt(_first_line(error)) from error
    except psycopg.Error as error:
        raise RefusedQuery(f"the warehouse refused the query: {_first_line(error)}") from error
    finally:
        conn.rollback()
        conn.close()


def reader_options() -> str:
    """PGOPTIONS of this process without the pseudonym key's pads: a process that also ran
    dbt carries them for its own sessions, never for a reader's."""
    import os

    current = os.environ.get("PGOPTIONS", "")
    return " ".join(part for part in current.split(" -c ") if "tallyhouse.key_" not in part
                    ).strip()


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]
