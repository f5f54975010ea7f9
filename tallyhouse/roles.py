"""Database roles that fit the people: analysts, dashboards, the few who may see identifiers.

* ``tallyhouse_analyst`` (group, no login): reads the marts — and nothing else.
* ``tallyhouse_dashboard`` (login): reads the marts, read-only; the dashboards connect as it.
* ``tallyhouse_restricted`` (group): an analyst who may also read schema ``restricted``
  (customers' and account managers' identifiers).

``ensure_roles`` is idempotent. Grants cover the tables there now and, through default
privileges of the role that runs dbt, every table dbt creates later (dbt replaces tables on
each build). A person gets a login of their own that is a member of a group, e.g.
``create role alice login password '…' in role tallyhouse_analyst``.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, quote, urlencode, urlparse

from psycopg2 import sql

from tallyhouse import db

ANALYST = "tallyhouse_analyst"
DASHBOARD = "tallyhouse_dashboard"
RESTRICTED = "tallyhouse_restricted"
DASHBOARD_URL_ENV = "TALLYHOUSE_DASHBOARD_DATABASE_URL"
DASHBOARD_PASSWORD_ENV = "TALLYHOUSE_DASHBOARD_PASSWORD"

READ_MARTS = (ANALYST, DASHBOARD, RESTRICTED)


def ensure_roles(url: str | None = None) -> list[str]:
    """Create or update the three roles and their grants; what was done, line by line."""
    done = []
    password = os.environ.get(DASHBOARD_PASSWORD_ENV) or None
    with db.cursor(url) as cur:
        # roles are shared by every database of the server: one creator at a time
        cur.execute("select pg_advisory_xact_lock(hashtext('tallyhouse.roles'))")
        for role, login in ((ANALYST, False), (DASHBOARD, True), (RESTRICTED, False)):
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create role {} {}").format(
                    sql.Identifier(role), sql.SQL("login" if login else "nologin")))
                done.append(f"created role {role}")
        if password:
            cur.execute(sql.SQL("alter role {} password %s").format(sql.Identifier(DASHBOARD)),
                        (password,))
            done.append(f"set the password of {DASHBOARD} (from {DASHBOARD_PASSWORD_ENV})")
        cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(ANALYST),
                                                     sql.Identifier(RESTRICTED)))
        cur.execute("select current_database()")
        database = cur.fetchone()[0]
        readers = sql.SQL(", ").join(sql.Identifier(r) for r in READ_MARTS)
        cur.execute(sql.SQL("grant connect on database {} to {}").format(
            sql.Identifier(database), readers))
        for schema, roles in (("marts", READ_MARTS), ("restricted", (RESTRICTED,))):
            who = sql.SQL(", ").join(sql.Identifier(r) for r in roles)
            name = sql.Identifier(schema)
            cur.execute(sql.SQL("create schema if not exists {}").format(name))
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(name, who))
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                name, who))
            cur.execute(sql.SQL("alter default privileges in schema {} grant select on tables "
                                "to {}").format(name, who))
            done.append(f"{', '.join(roles)}: read {schema}.* (now and future tables)")
    return done


def dashboard_url(url: str | None = None) -> str:
    """How the dashboards connect: TALLYHOUSE_DASHBOARD_DATABASE_URL, else the warehouse's
    server and database as ``tallyhouse_dashboard`` (password from
    TALLYHOUSE_DASHBOARD_PASSWORD where the server asks for one)."""
    explicit = os.environ.get(DASHBOARD_URL_ENV)
    if explicit:
        return explicit
    parts = db.connection_parts(url or db.database_url())
    kept = [(k, v) for k, v in parse_qsl(urlparse(url or db.database_url()).query)
            if k not in ("user", "password", "host", "port")]
    password = os.environ.get(DASHBOARD_PASSWORD_ENV, "")
    credentials = quote(DASHBOARD) + (f":{quote(password, safe='')}" if password else "")
    if parts.host.startswith("/"):
        query = urlencode([("host", parts.host), ("port", str(parts.port)), *kept])
        return f"postgresql://{credentials}@/{quote(parts.dbname)}?{query}"
    query = f"?{urlencode(kept)}" if kept else ""
    return f"postgresql://{credentials}@{parts.host}:{parts.port}/{quote(parts.dbname)}{query}"
