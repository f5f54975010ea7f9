"""Whether the marts are up to date: the last loaded file and the dbt project they were built
from. A run that loaded nothing new into an unchanged project need not rebuild anything —
but only if the last build completed, nothing was changed in raw under it and every
relation the project builds is there (a no-op run proves the warehouse whole before it
says "nothing new").

A build marks itself in progress before dbt starts (``begin``) and complete only when it
ends (``record``): a build killed in the middle (kill -9, the database stopped, a failed
model) leaves the mark, and the next run rebuilds every model from raw before anything is
carried over. ``tallyhouse forget`` marks the build in progress in the same transaction as
its erasure, so an erasure is finished by whichever build comes next.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tallyhouse import db, pseudonym
from tallyhouse.config import project_root

PROJECT_PARTS = ("dbt_project.yml", "models", "seeds", "macros", "data-tests")
DDL = """
create table if not exists raw._build_state (
    id boolean primary key default true check (id),
    last_file_id bigint not null,
    project_hash text not null,
    built_at timestamptz not null default now()
)
"""
MIGRATIONS = (
    "alter table raw._build_state add column if not exists check_results jsonb",
    # the highest load number the build read: the next build's scoped tests look at the
    # rows loaded after it (macro checked_through)
    "alter table raw._build_state add column if not exists last_load_seq bigint not null "
    "default -1",
    # a build started and not (yet) completed; when it started
    "alter table raw._build_state add column if not exists in_progress boolean not null "
    "default false",
    "alter table raw._build_state add column if not exists started_at timestamptz",
    # the engine the last completed build made the marts on (postgres, spark)
    "alter table raw._build_state add column if not exists engine text",
)


def ensure(cur) -> None:
    cur.execute("create schema if not exists raw")
    cur.execute(DDL)
    for statement in MIGRATIONS:
        cur.execute(statement)


def project_hash(with_key: bool = True) -> str:
    """Digest of the dbt project's files (and of the pseudonym key, unless ``with_key`` is
    false: parsing does not depend on it)."""
    digest = hashlib.sha256()
    root = project_root()
    for part in PROJECT_PARTS:
        path = root / part
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    # a new pseudonym key changes every person key: the marts must be rebuilt
    if with_key:
        digest.update(b"pseudonym key:" + hashlib.sha256(pseudonym.key()).digest())
        # the marts of one engine are not the other's: a switch builds them on the new one
        from tallyhouse.engine import engine

        if engine() != "postgres":
            digest.update(b"engine:" + engine().encode())
    return digest.hexdigest()


def current(url: str) -> tuple[int, str]:
    """(last file id in raw._manifest, hash of the dbt project) right now."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._manifest') is not null")
        last = 0
        if cur.fetchone()[0]:
            cur.execute("select coalesce(max(file_id), 0) from raw._manifest")
            last = int(cur.fetchone()[0])
    return last, project_hash()


@dataclass(frozen=True)
class Readiness:
    """Why the marts are (not) what a build would make now."""

    fresh: bool  # no file loaded since, same project, complete build, nothing missing
    interrupted_at: datetime | None = None  # a build started then and never completed
    raw_changed: bool = False  # rows deleted or edited in raw since the last build started
    missing: tuple[str, ...] = ()  # relations of the project that do not exist

    @property
    def needs_full_refresh(self) -> bool:
        return self.interrupted_at is not None or self.raw_changed or bool(self.missing)

    def reason(self) -> str:
        if self.interrupted_at is not None:
            return (f"the last build did not complete (started "
                    f"{self.interrupted_at:%Y-%m-%d %H:%M:%S %Z})")
        if self.raw_changed:
            return "rows were deleted or edited in raw since the last build"
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" …" if len(self.missing) > 5 else "")
            return f"{len(self.missing)} relation(s) of the project are missing ({shown})"
        return ""


def project_relations(manifest_path: Path | None = None) -> list[tuple[str, str]]:
    """(schema, name) of every relation the dbt project builds (models, seeds, snapshots;
    ephemeral models have none), from the parsed manifest."""
    path = manifest_path or project_root() / "target" / "manifest.json"
    if not path.exists():
        return []
    nodes = json.loads(path.read_text()).get("nodes", {}).values()
    return sorted({(n["schema"], n.get("alias") or n["name"]) for n in nodes
                   if n.get("resource_type") in ("model", "seed", "snapshot")
                   and (n.get("config") or {}).get("materialized") != "ephemeral"})


def readiness(url: str, state: tuple[int, str],
              manifest_path: Path | None = None) -> Readiness:
    relations = project_relations(manifest_path)
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._build_state') is not null")
        if not cur.fetchone()[0]:
            return Readiness(False)
        ensure(cur)
        cur.execute("select last_file_id, project_hash, in_progress, started_at, built_at "
                    "from raw._build_state")
        row = cur.fetchone()
        if row is None:
            return Readiness(False)
        last_file_id, project, in_progress, started_at, built_at = row
        if in_progress:
            return Readiness(False, interrupted_at=started_at or built_at)
        cur.execute("select to_regclass('raw._row_changes') is not null")
        raw_changed = False
        if cur.fetchone()[0]:
            cur.execute("select exists (select from raw._row_changes where noticed_at > %s)",
                        (started_at or built_at,))
            raw_changed = bool(cur.fetchone()[0])
        missing = []
        if relations and _on_spark():
            missing = _missing_on_spark(relations)
        elif relations:
            cur.execute("select schema_name || '.' || relation_name from unnest(%s, %s) as "
                        "r (schema_name, relation_name) where to_regclass(format('%%I.%%I', "
                        "schema_name, relation_name)) is null",
                        ([s for s, _ in relations], [n for _, n in relations]))
            missing = [r[0] for r in cur.fetchall()]
    fresh = (int(last_file_id), project) == state and not raw_changed and not missing
    return Readiness(fresh, None, raw_changed, tuple(missing))


def _on_spark() -> bool:
    from tallyhouse.engine import engine

    return engine() == "spark"


def _missing_on_spark(relations: list[tuple[str, str]]) -> list[str]:
    """The project's relations Spark does not have (its catalog, one listing per schema)."""
    from tallyhouse.spark.checks import fetch_rows

    present: set[str] = set()
    for schema in sorted({s for s, _ in relations}):
        try:
            rows = fetch_rows(f"show tables in `{schema}`")
        except Exception:  # noqa: BLE001 - no such database yet: all of it is missing
            continue
        present.update(f"{schema}.{row[1]}" for row in rows if not row[2])
    return [f"{s}.{n}" for s, n in relations if f"{s}.{n}" not in present]


def up_to_date(url: str, state: tuple[int, str]) -> bool:
    return readiness(url, state).fresh


def project_changed(url: str, state: tuple[int, str]) -> bool:
    """The marts were built before from another project (or pseudonym key): incremental
    models would keep rows computed by the old logic, so the next build is a full refresh."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._build_state') is not null")
        if not cur.fetchone()[0]:
            return False
        cur.execute("select project_hash from raw._build_state")
        row = cur.fetchone()
    return row is not None and row[0] not in (state[1], "")


STATE_COLUMNS = ("last_file_id", "project_hash", "check_results", "last_load_seq",
                 "in_progress", "started_at", "built_at", "engine")


def begin(url_or_cursor) -> dict | None:
    """Mark a build in progress (committed before dbt starts): until ``record`` says it
    completed, no run takes the marts as up to date. Returns the state before (for
    ``restore``), None when there was none."""
    def mark(cur) -> dict | None:
        ensure(cur)
        cur.execute(f"select {', '.join(STATE_COLUMNS)} from raw._build_state")
        row = cur.fetchone()
        cur.execute("insert into raw._build_state (last_file_id, project_hash, in_progress, "
                    "started_at) values (-1, '', true, now()) on conflict (id) do update "
                    "set in_progress = true, started_at = now()")
        return dict(zip(STATE_COLUMNS, row, strict=True)) if row else None

    if isinstance(url_or_cursor, str):
        with db.cursor(url_or_cursor) as cur:
            return mark(cur)
    return mark(url_or_cursor)


# The load number a build's scoped tests look after, stated by a run to its dbt process
# (macro checked_through): read once from the state ``begin`` found, not asked again by each
# of the ~70 tests a run scopes (two queries each: about a second of a run's dbt).
CHECKED_THROUGH_ENV = "TALLYHOUSE_CHECKED_THROUGH"


def checked_through(before: dict | None) -> int:
    """What the last build on PostgreSQL read raw through, from the state ``begin`` returned:
    the value macro postgres__checked_through reads from raw._build_state (-1 when no build
    on PostgreSQL recorded one)."""
    if not before or before.get("last_load_seq") is None:
        return -1
    if (before.get("engine") or "postgres") != "postgres":
        return -1
    return int(before["last_load_seq"])


def restore(url: str, before: dict | None) -> None:
    """Put back the state ``begin`` found: a build of part of the project (some models
    picked in the UI) completed, and is not a build of the whole — the next run narrows
    from the last whole build, or repairs if that one never completed."""
    if before is None:
        return  # no whole build yet: it stays in progress, the next run builds everything
    with db.cursor(url) as cur:
        values = dict(before, check_results=json.dumps(before["check_results"] or []))
        cur.execute("update raw._build_state set " + ", ".join(
            f"{column} = %({column})s" for column in STATE_COLUMNS), values)


def record(url: str, state: tuple[int, str], check_results: list[dict] | None = None) -> None:
    """The build completed: the marts are what the project makes of raw up to this state."""
    from tallyhouse.engine import engine

    with db.cursor(url) as cur:
        ensure(cur)
        cur.execute("select to_regclass('raw._load_seq') is not null")
        last_load_seq = -1
        if cur.fetchone()[0]:
            cur.execute("select case when is_called then last_value else -1 end "
                        "from raw._load_seq")
            last_load_seq = int(cur.fetchone()[0])
        cur.execute("insert into raw._build_state "
                    "(last_file_id, project_hash, check_results, last_load_seq, in_progress, "
                    "engine) values (%s, %s, %s, %s, false, %s) on conflict (id) do update set "
                    "last_file_id = excluded.last_file_id, project_hash = excluded.project_hash, "
                    "check_results = excluded.check_results, "
                    "last_load_seq = excluded.last_load_seq, in_progress = false, "
                    "built_at = now(), engine = excluded.engine",
                    (*state, json.dumps(check_results or []), last_load_seq, engine()))
        # an erasure is finished once a build after it completed
        cur.execute("select to_regclass('restricted.erasures') is not null")
        if cur.fetchone()[0]:
            cur.execute("alter table restricted.erasures "
                        "add column if not exists completed_at timestamptz")
            cur.execute("update restricted.erasures set completed_at = now() "
                        "where completed_at is null")


def built_on(url: str) -> str | None:
    """The engine the last completed build made the marts on; None before any (or before
    builds recorded it)."""
    try:
        with db.cursor(url) as cur:
            cur.execute("select to_regclass('raw._build_state') is not null")
            if not cur.fetchone()[0]:
                return None
            cur.execute("select column_name from information_schema.columns where "
                        "table_schema = 'raw' and table_name = '_build_state' and "
                        "column_name = 'engine'")
            if cur.fetchone() is None:
                return None
            cur.execute("select engine from raw._build_state where not in_progress")
            row = cur.fetchone()
    except Exception:  # noqa: BLE001 - a hint, never a failure of its own
        return None
    return row[0] if row else None


def last_check_results(url: str) -> tuple[object, list[dict]]:
    """When the marts were last built and the dbt test results of that build."""
    with db.cursor(url) as cur:
        ensure(cur)
        cur.execute("select built_at, check_results from raw._build_state")
        row = cur.fetchone()
    if row is None:
        return None, []
    return row[0], list(row[1] or [])
