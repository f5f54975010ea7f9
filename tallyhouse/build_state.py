"""Whether the marts are up to date: the last loaded file and the dbt project they were built
from. A run that loaded nothing new into an unchanged project need not rebuild anything."""

from __future__ import annotations

import hashlib

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


def up_to_date(url: str, state: tuple[int, str]) -> bool:
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._build_state') is not null "
                    "and to_regclass('marts.fct_transactions') is not null")
        if not cur.fetchone()[0]:
            return False
        cur.execute("select last_file_id, project_hash from raw._build_state")
        row = cur.fetchone()
    return row is not None and (int(row[0]), row[1]) == state


def project_changed(url: str, state: tuple[int, str]) -> bool:
    """The marts were built before from another project (or pseudonym key): incremental
    models would keep rows computed by the old logic, so the next build is a full refresh."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._build_state') is not null")
        if not cur.fetchone()[0]:
            return False
        cur.execute("select project_hash from raw._build_state")
        row = cur.fetchone()
    return row is not None and row[0] != state[1]


def record(url: str, state: tuple[int, str], check_results: list[dict] | None = None) -> None:
    import json

    with db.cursor(url) as cur:
        cur.execute("create schema if not exists raw")
        cur.execute(DDL)
        cur.execute("alter table raw._build_state add column if not exists check_results jsonb")
        # the highest load number the build read: the next build's scoped tests look at the
        # rows loaded after it (macro checked_through)
        cur.execute("alter table raw._build_state "
                    "add column if not exists last_load_seq bigint not null default -1")
        cur.execute("select to_regclass('raw._load_seq') is not null")
        last_load_seq = -1
        if cur.fetchone()[0]:
            cur.execute("select case when is_called then last_value else -1 end "
                        "from raw._load_seq")
            last_load_seq = int(cur.fetchone()[0])
        cur.execute("insert into raw._build_state "
                    "(last_file_id, project_hash, check_results, last_load_seq) "
                    "values (%s, %s, %s, %s) on conflict (id) do update set "
                    "last_file_id = excluded.last_file_id, project_hash = excluded.project_hash, "
                    "check_results = excluded.check_results, "
                    "last_load_seq = excluded.last_load_seq, built_at = now()",
                    (*state, json.dumps(check_results or []), last_load_seq))


def last_check_results(url: str) -> tuple[object, list[dict]]:
    """When the marts were last built and the dbt test results of that build."""
    with db.cursor(url) as cur:
        cur.execute("alter table raw._build_state add column if not exists check_results jsonb")
        cur.execute("select built_at, check_results from raw._build_state")
        row = cur.fetchone()
    if row is None:
        return None, []
    return row[0], list(row[1] or [])

