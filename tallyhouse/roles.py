"""Database roles that fit the people: analysts, dashboards, the few who may see identifiers.

* ``tallyhouse_analyst`` (login, and the group of analysts' own logins): reads the marts —
  and nothing else. ``tallyhouse sql`` and ``tallyhouse metrics`` run as it.
* ``tallyhouse_dashboard`` (login): reads the marts; the dashboards connect as it.
* ``tallyhouse_restricted`` (group): an analyst who may also read schema ``restricted``
  (customers' and account managers' identifiers).

The three are read-only by their own settings (``default_transaction_read_only``, a
statement timeout), own nothing, are never superusers, and hold no privilege beyond
``select``: text a person types runs in their sessions, never in the warehouse owner's
(``tallyhouse.readers``). Role settings apply to the role a session logs in as, so a
person's own login gets the same settings from ``tallyhouse db roles --login NAME``.

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

ANALYST_URL_ENV = "TALLYHOUSE_ANALYST_DATABASE_URL"
ANALYST_PASSWORD_ENV = "TALLYHOUSE_ANALYST_PASSWORD"

READ_MARTS = (ANALYST, DASHBOARD, RESTRICTED)
# settings every reader session starts with (ALTER ROLE ... SET): a typed query can read, and
# only for so long
READER_SETTINGS = {"default_transaction_read_only": "on", "statement_timeout": "5min",
                   "idle_in_transaction_session_timeout": "10min"}


# PostgreSQL lets every role take any advisory lock: a reader could hold the run lock and
# stop the books. The lock functions on one key are the owner's alone.
ADVISORY_LOCKS = ("pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
                  "pg_try_advisory_lock_shared", "pg_advisory_xact_lock",
                  "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
                  "pg_try_advisory_xact_lock_shared")


def _keep_the_run_lock(cur) -> list[str]:
    """Advisory locks (the run lock, the load lock) only for the warehouse owner: revoked
    from PUBLIC where this session may (a superuser), granted back to the owner."""
    cur.execute("select rolsuper from pg_roles where rolname = current_user")
    if not cur.fetchone()[0]:
        return ["advisory locks stay open to every role (revoking them needs a superuser): "
                "readers could hold the run lock for up to their statement timeout"]
    functions = sql.SQL(", ").join(sql.SQL("{}(bigint)").format(sql.Identifier(name))
                                   for name in ADVISORY_LOCKS)
    cur.execute(sql.SQL("revoke execute on function {} from public").format(functions))
    cur.execute(sql.SQL("grant execute on function {} to current_user").format(functions))
    return ["advisory locks (the run lock): the warehouse owner's only"]


def reader_settings_sql(role: str) -> list[sql.Composed]:
    """ALTER ROLE statements that make a login read-only by its own settings."""
    return [sql.SQL("alter role {} set {} = {}").format(
        sql.Identifier(role), sql.Identifier(name), sql.Literal(value))
        for name, value in READER_SETTINGS.items()]


def ensure_roles(url: str | None = None) -> list[str]:
    """Create or update the three roles and their grants; what was done, line by line."""
    done = []
    password = os.environ.get(DASHBOARD_PASSWORD_ENV) or None
    with db.cursor(url) as cur:
        # roles are shared by every database of the server: one creator at a time
        cur.execute("select pg_advisory_xact_lock(hashtext('tallyhouse.roles'))")
        for role, login in ((ANALYST, True), (DASHBOARD, True), (RESTRICTED, False)):
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create role {} {}").format(
                    sql.Identifier(role), sql.SQL("login" if login else "nologin")))
                done.append(f"created role {role}")
            _only_a_reader(cur, role, login)
        done.append(f"{', '.join(READ_MARTS)}: read-only by their settings "
                    f"({', '.join(f'{k}={v}' for k, v in READER_SETTINGS.items())})")
        for role, secret, env in ((DASHBOARD, password, DASHBOARD_PASSWORD_ENV),
                                  (ANALYST, os.environ.get(ANALYST_PASSWORD_ENV) or None,
                                   ANALYST_PASSWORD_ENV)):
            if secret:
                cur.execute(sql.SQL("alter role {} password %s").format(sql.Identifier(role)),
                            (secret,))
                done.append(f"set the password of {role} (from {env})")
        cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(ANALYST),
                                                     sql.Identifier(RESTRICTED)))
        cur.execute("select current_database()")
        database = cur.fetchone()[0]
        readers = sql.SQL(", ").join(sql.Identifier(r) for r in READ_MARTS)
        cur.execute(sql.SQL("grant connect on database {} to {}").format(
            sql.Identifier(database), readers))
        done += _keep_the_run_lock(cur)
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


_ATTRIBUTES = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolreplication", "rolbypassrls")


def _only_a_reader(cur, role: str, login: bool | None) -> None:
    """A reader's login is never more than a reader, whatever an earlier version or a
    person set, and starts every session read-only (its own settings)."""
    cur.execute(f"select rolcanlogin, {', '.join(_ATTRIBUTES)} from pg_roles "
                "where rolname = %s", (role,))
    can_login, *powers = cur.fetchone()
    wanted_login = can_login if login is None else login
    if any(powers) or can_login != wanted_login:
        cur.execute(sql.SQL("alter role {} {} nosuperuser nocreatedb nocreaterole "
                            "noreplication nobypassrls").format(
            sql.Identifier(role), sql.SQL("login" if wanted_login else "nologin")))
    for statement in reader_settings_sql(role):
        cur.execute(statement)


def ensure_reader_login(name: str, url: str | None = None) -> list[str]:
    """A person's own login (member of one of the groups): the readers' settings on it, as
    role settings are not inherited from a group."""
    with db.cursor(url) as cur:
        cur.execute("select rolsuper from pg_roles where rolname = %s", (name,))
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"no role {name}: create role {name} login password '...' "
                              f"in role {ANALYST}")
        if row[0]:
            raise ValueError(f"{name} is a superuser: a reader's login must not be one")
        _only_a_reader(cur, name, None)
    return [f"{name}: read-only by its settings "
            f"({', '.join(f'{k}={v}' for k, v in READER_SETTINGS.items())})"]


def dashboard_url(url: str | None = None) -> str:
    """How the dashboards connect: TALLYHOUSE_DASHBOARD_DATABASE_URL, else the warehouse's
    server and database as ``tallyhouse_dashboard`` (password from
    TALLYHOUSE_DASHBOARD_PASSWORD where the server asks for one)."""
    return _reader_url(DASHBOARD, DASHBOARD_URL_ENV, DASHBOARD_PASSWORD_ENV, url)


def analyst_url(url: str | None = None) -> str:
    """How ``tallyhouse sql`` and ``tallyhouse metrics`` connect: TALLYHOUSE_ANALYST_DATABASE_URL,
    else the warehouse's server and database as ``tallyhouse_analyst`` (password from
    TALLYHOUSE_ANALYST_PASSWORD where the server asks for one)."""
    return _reader_url(ANALYST, ANALYST_URL_ENV, ANALYST_PASSWORD_ENV, url)


def reader_url_configured(role: str) -> bool:
    """The reader's connection is given explicitly (its roles are then not ours to set up)."""
    return bool(os.environ.get({DASHBOARD: DASHBOARD_URL_ENV,
                                ANALYST: ANALYST_URL_ENV}[role]))


def _reader_url(role: str, url_env: str, password_env: str, url: str | None) -> str:
    explicit = os.environ.get(url_env)
    if explicit:
        return explicit
    parts = db.connection_parts(url or db.database_url())
    kept = [(k, v) for k, v in parse_qsl(urlparse(url or db.database_url()).query)
            if k not in ("user", "password", "host", "port")]
    password = os.environ.get(password_env, "")
    credentials = quote(role) + (f":{quote(password, safe='')}" if password else "")
    if parts.host.startswith("/"):
        query = urlencode([("host", parts.host), ("port", str(parts.port)), *kept])
        return f"postgresql://{credentials}@/{quote(parts.dbname)}?{query}"
    query = f"?{urlencode(kept)}" if kept else ""
    return f"postgresql://{credentials}@{parts.host}:{parts.port}/{quote(parts.dbname)}{query}"
