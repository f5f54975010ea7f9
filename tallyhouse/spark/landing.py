"""The landing on Spark: what the loaders landed in PostgreSQL, copied to Parquet.

The loaders land every file into PostgreSQL exactly as on the PostgreSQL engine — the
manifest with each file's sha256, quarantine, the load sequence, file reconciliation — so
the guarantees of landing are the same code on both engines, and PostgreSQL stays the
control plane (DECISIONS.md). ``sync`` then copies to Spark what was landed since its last
copy: each raw feed table gets the rows past the highest ``_load_seq`` already on Spark, as
Parquet files in the table's folder (one file per batch, written whole then renamed into
place, so a reader never sees half a file); the control tables the models read (manifest,
quarantine, erased subjects, the build state) are copied whole, replaced at once.

A feed table whose rows changed in PostgreSQL after they were copied — an erasure rewrote a
payload, retention deleted old rows — no longer matches its copy's fingerprint (rows, last
load sequence, rewritten rows) and is copied again whole.

This copy is for a Spark on this machine (the Thrift server tallyhouse starts): the files
are written into its warehouse folder. A cluster's Spark reads its own storage; landing
there is not built yet (docs/spark.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2

from tallyhouse.spark import server

BATCH_ROWS = 50_000
# the control tables the models read, copied whole on every sync; the build state as it
# was before this run's build (the scoped tests read the last build's load number from it)
CONTROL_TABLES = {("raw", "_manifest"), ("raw", "_quarantine"), ("raw", "_build_state"),
                  ("restricted", "erased_subjects")}


def _arrow_type(pg_type: str):
    import pyarrow as pa

    return {
        "bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(),
        "boolean": pa.bool_(), "bytea": pa.binary(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
        "date": pa.date32(),
        # money and durations keep their digits: numeric travels as text and the models
        # read it as they read any landed text (a numeric column is bookkeeping here)
        "numeric": pa.string(),
    }.get(pg_type, pa.string())


def _spark_type(pg_type: str) -> str:
    return {
        "bigint": "bigint", "integer": "int", "smallint": "smallint", "boolean": "boolean",
        "bytea": "binary", "timestamp with time zone": "timestamp",
        "timestamp without time zone": "timestamp_ntz", "date": "date",
    }.get(pg_type, "string")


def _columns(cur, schema: str, table: str) -> list[tuple[str, str]]:
    cur.execute("select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table))
    return [(name, kind) for name, kind in cur.fetchall()]


def feed_tables(cur) -> list[str]:
    """The raw tables the loaders append to (they carry ``_load_seq``)."""
    cur.execute("select c.table_name from information_schema.columns c "
                "join information_schema.tables t using (table_schema, table_name) "
                "where c.table_schema = 'raw' and c.column_name = '_load_seq' "
                "and t.table_type = 'BASE TABLE' order by 1")
    return [name for (name,) in cur.fetchall()]


def _select_list(columns: list[tuple[str, str]]) -> str:
    parts = []
    for name, kind in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        if kind in ("json", "jsonb", "ARRAY", "numeric", "interval"):
            parts.append(f"{quoted}::text")
        else:
            parts.append(quoted)
    return ", ".join(parts)


def _schema(columns: list[tuple[str, str]]):
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(kind)) for name, kind in columns])


def _write_batches(conn, query: str, params: tuple, columns, folder: Path,
                   prefix: str) -> int:
    """Stream the query's rows into Parquet files in ``folder``; rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(columns)
    names = [name for name, _ in columns]
    written = 0
    with conn.cursor(name=f"spark_copy_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = BATCH_ROWS
        cur.execute(query, params)
        part = 0
        while True:
            rows = cur.fetchmany(BATCH_ROWS)
            if not rows:
                break
            data = {name: [bytes(v) if isinstance(v, memoryview) else v
                           for v in (row[i] for row in rows)]
                    for i, name in enumerate(names)}
            table = pa.Table.from_pydict(data, schema=schema)
            final = folder / f"{prefix}-{part:05d}.parquet"
            temp = folder / f".{final.name}.tmp"
            pq.write_table(table, temp, compression="zstd")
            os.replace(temp, final)
            written += len(rows)
            part += 1
    return written


def _table_dir(schema: str, table: str) -> Path:
    return server.spark_dir() / "landing" / schema / table


def _ensure_table(spark_cur, schema: str, table: str, columns, folder: Path) -> None:
    cols = ", ".join(f"`{name}` {_spark_type(kind)}" for name, kind in columns)
    spark_cur.execute(f"create database if not exists `{schema}`")
    spark_cur.execute(f"create table if not exists `{schema}`.`{table}` ({cols}) "
                      f"using parquet location '{folder.as_posix()}'")
    spark_cur.execute(f"refresh table `{schema}`.`{table}`")


def _state_path() -> Path:
    return server.spark_dir() / "landing" / "copied.json"


def _fingerprint(cur, table: str, through: int | None = None) -> dict:
    where = "" if through is None else "where _load_seq <= %s"
    cur.execute(f"select count(*), coalesce(max(_load_seq), 0), count(_rewritten_hash) "
                f'from raw."{table}" {where}', () if through is None else (through,))
    rows, last, rewritten = cur.fetchone()
    return {"rows": int(rows), "last_load_seq": int(last), "rewritten": int(rewritten)}


class Copied(dict):
    """Rows copied per table; ``rewritten``: rows Spark had were replaced (another database's
    copy, or a table changed under the last copy): what was built from them cannot be
    extended, only rebuilt."""

    rewritten: bool = False


def sync(database_url: str, where: server.Endpoint,
         progress: Callable[[str], None] | None = None) -> Copied:
    """Copy what was landed since the last copy; rows copied per table."""
    say = progress or (lambda _message: None)
    if not where.local:
        raise server.SparkError(
            "copying the landing to a cluster's Spark is not built yet: the local Spark "
            f"reads Parquet from {server.spark_dir() / 'landing'}")
    state_file = _state_path()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    # one copy at a time (a run's and `tallyhouse spark sync` by hand): two would read the
    # same state and both write the same new rows
    with open(state_file.with_name(".sync.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _sync(database_url, where, state_file, say)


def _sync(database_url: str, where: server.Endpoint, state_file: Path,
          say: Callable[[str], None]) -> Copied:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    copied = Copied()
    conn = psycopg2.connect(database_url)
    try:
        # one snapshot of PostgreSQL for the whole copy: a load committing meanwhile is
        # copied next time, never half
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with server.connect(where) as spark:
            spark_cur = spark.cursor()
            with conn.cursor() as cur:
                # the copy belongs to one PostgreSQL database: pointed at another one (another
                # TALLYHOUSE_DATABASE_URL), everything is copied again, never merged
                cur.execute("select current_database() || ':' || coalesce((select "
                            "file_id::text || ':' || file_sha256 || ':' || loaded_at::text "
                            "from raw._manifest order by file_id limit 1), '')")
                origin = cur.fetchone()[0]
                feeds = feed_tables(cur)
                if state.get("_origin") != origin:
                    # another database's copy (or none recorded): nothing built on Spark
                    # so far was built from this one
                    copied.rewritten = True
                    # feeds of the other database this one lacks are emptied, not kept
                    for table in [t for t in state if not t.startswith("_")
                                  and t not in feeds]:
                        folder = _table_dir("raw", table)
                        shutil.rmtree(folder, ignore_errors=True)
                        folder.mkdir(parents=True, exist_ok=True)
                        spark_cur.execute(f"refresh table `raw`.`{table}`")
                        copied[f"raw.{table}"] = 0
                    state = {"_origin": origin}
                for table in feeds:
                    columns = _columns(cur, "raw", table)
                    folder = _table_dir("raw", table)
                    known = state.get(table)
                    whole = known is None or _fingerprint(
                        cur, table, known["last_load_seq"]) != known
                    if whole and known is not None:
                        copied.rewritten = True  # rows changed under the last copy
                    if whole and folder.exists():
                        shutil.rmtree(folder)
                    folder.mkdir(parents=True, exist_ok=True)
                    since = 0 if whole else known["last_load_seq"]
                    # files of a copy that stopped before it was recorded: copied again now
                    for leftover in folder.glob("seq-*.parquet"):
                        if int(leftover.name[4:16]) > since:
                            leftover.unlink()
                    now = _fingerprint(cur, table)
                    rows = _write_batches(
                        conn, f'select {_select_list(columns)} from raw."{table}" '
                              f"where _load_seq > %s order by _load_seq, _line_no",
                        (since,), columns, folder, f"seq-{since + 1:012d}-{uuid.uuid4().hex[:6]}")
                    _ensure_table(spark_cur, "raw", table, columns, folder)
                    state[table] = now
                    _save_state(state_file, state)
                    copied[f"raw.{table}"] = rows
                    if rows:
                        say(f"raw.{table}: {rows} rows copied"
                            + (" (whole table: it changed since the last copy)"
                               if whole and known is not None else ""))
                for schema, table in sorted(CONTROL_TABLES):
                    columns = _columns(cur, schema, table)
                    if not columns:
                        continue
                    folder = _table_dir(schema, table)
                    fresh = folder.with_name(f".{table}.{uuid.uuid4().hex[:8]}")
                    fresh.mkdir(parents=True)
                    rows = _write_batches(
                        conn, f'select {_select_list(columns)} from {schema}."{table}"', (),
                        columns, fresh, "all")
                    old = folder.with_name(f".{table}.old")
                    if folder.exists():
                        os.replace(folder, old)
                    os.replace(fresh, folder)
                    shutil.rmtree(old, ignore_errors=True)
                    _ensure_table(spark_cur, schema, table, columns, folder)
                    copied[f"{schema}.{table}"] = rows
        conn.rollback()
    finally:
        conn.close()
    return copied


def _save_state(state_file: Path, state: dict) -> None:
    temp = state_file.with_suffix(".tmp")
    temp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(temp, state_file)
