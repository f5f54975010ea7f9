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

Where the files go: for the local Spark, a folder beside its warehouse; for a cluster's,
``TALLYHOUSE_SPARK_LANDING_URI`` — a folder its Spark reads (an object store, HDFS, a
shared file system), written through pyarrow's file systems with the store's usual
credentials. What was copied is recorded beside the files (a new location starts empty),
and a raw table that read another location is pointed at this one and counted as
rewritten: the models built from the other landing are rebuilt, never extended.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg2

from tallyhouse import build_state
from tallyhouse.spark import server

LANDING_URI_ENV = "TALLYHOUSE_SPARK_LANDING_URI"
# PostgreSQL advisory lock of the copy (beside the run's 7 312 000 and the loads' 7 312 001)
SYNC_LOCK_KEY = 7_312_002
BATCH_ROWS = 50_000
# what was copied per table, kept with the copy (a new landing location starts empty)
STATE_FILE = "copied.json"
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


def _write_batches(conn, query: str, params: tuple, columns, store: Landing, folder: str,
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
            store.write_whole(f"{prefix}-{part:05d}.parquet", folder,
                              lambda path, sink=table: pq.write_table(
                                  sink, path, filesystem=store.fs, compression="zstd"))
            written += len(rows)
            part += 1
    return written


# where a landing may be: a folder Spark reads directly (this machine's, or one shared with
# the cluster), HDFS, or an object store; Spark's own names for the object stores
# (s3a://, abfss://) differ from pyarrow's in one case only
_STORES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfs",
           "abfss": "abfss", "hdfs": "hdfs", "viewfs": "viewfs"}
# stores where a file being written is already visible under its name (Azure's Data Lake
# shows an empty blob as soon as a write opens): written under a hidden name (Spark skips
# names starting with a dot) and renamed, which is atomic there; S3 and GCS show an object
# only once its upload completes, and a rename there is a copy
_RENAMING = ("file", "hdfs", "viewfs", "abfs", "abfss")


@dataclass(frozen=True)
class Landing:
    """Where the Parquet copy of the landing is written (``fs``, ``root``) and how Spark
    names the same place (``location``: no credentials, also what messages show)."""

    fs: object
    root: str
    location: str
    renames: bool

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def spark_location(self, *parts: str) -> str:
        return "/".join([self.location.rstrip("/"), *parts])

    def files(self, folder: str) -> list[str]:
        return sorted(name for name, is_folder in self.entries(folder) if not is_folder)

    def entries(self, folder: str) -> list[tuple[str, bool]]:
        """(name, is a folder) of what ``folder`` holds."""
        from pyarrow import fs

        found = self.fs.get_file_info(fs.FileSelector(folder, allow_not_found=True))
        return [(info.base_name, info.type == fs.FileType.Directory) for info in found]

    def empty(self, folder: str) -> None:
        self.fs.delete_dir_contents(folder, missing_dir_ok=True)
        self.fs.create_dir(folder, recursive=True)

    def remove(self, path: str, folder: bool) -> None:
        if folder:
            self.fs.delete_dir(path)
        else:
            self.fs.delete_file(path)

    def write_whole(self, name: str, folder: str, write: Callable[[str], None]) -> None:
        """Write a file so that a reader sees it whole or not at all."""
        final = f"{folder}/{name}"
        if not self.renames:
            write(final)
            return
        temp = f"{folder}/.{name}.tmp"
        write(temp)
        self.fs.move(temp, final)

    def read_text(self, name: str) -> str | None:
        try:
            with self.fs.open_input_stream(self.path(name)) as stream:
                return stream.read().decode()
        except FileNotFoundError:
            return None  # any other error (access, network) stops the copy: said, not
            # taken for an empty landing (which would copy everything again)

    def write_text(self, name: str, text: str) -> None:
        def write(path: str) -> None:
            with self.fs.open_output_stream(path) as stream:
                stream.write(text.encode())

        self.write_whole(name, self.root.rstrip("/"), write)


def _redacted(uri: str) -> str:
    """The URI without what may carry a secret (user info, query options)."""
    parts = urlsplit(uri)
    user, at, host = parts.netloc.rpartition("@")
    if at and parts.scheme.lower() in ("abfs", "abfss"):
        # there the user part names the container (and may carry its key after a colon)
        host = f"{user.partition(':')[0]}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_landing_uri(uri: str) -> Landing:
    """``TALLYHOUSE_SPARK_LANDING_URI``: a folder the cluster's Spark reads."""
    from pyarrow import fs

    uri = uri.strip()
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        if scheme and parts.netloc not in ("", "localhost"):
            raise server.SparkError(f"{LANDING_URI_ENV}: file:// names a folder of this "
                                    f"machine (file:///folder), not of {parts.netloc!r}")
        path = Path(unquote(parts.path) if scheme else uri).expanduser()
        if not path.is_absolute():
            raise server.SparkError(f"{LANDING_URI_ENV} must be an absolute folder or a URI "
                                    f"(got the relative path {str(path)!r})")
        path.mkdir(parents=True, exist_ok=True)
        return Landing(fs.LocalFileSystem(), path.as_posix(), f"file://{path.as_posix()}",
                       True)
    if scheme not in _STORES:
        raise server.SparkError(
            f"{LANDING_URI_ENV} has the scheme {scheme!r}; a landing is written to "
            f"file://, s3a:// (s3://), gs://, abfss://, hdfs:// or viewfs://")
    shown = _redacted(uri)
    if not parts.path.strip("/") and scheme not in ("hdfs", "viewfs"):
        raise server.SparkError(f"{LANDING_URI_ENV} ({shown}) needs a folder under the "
                                f"bucket or container, e.g. {scheme}://bucket/tallyhouse")
    arrow_uri = urlunsplit((_STORES[scheme], parts.netloc, parts.path, parts.query, ""))
    try:
        store, root = fs.FileSystem.from_uri(arrow_uri)
    except Exception as exc:  # noqa: BLE001 - said with the store named, not the URI
        raise server.SparkError(f"{LANDING_URI_ENV} ({shown}) cannot be opened: "
                                f"{type(exc).__name__}") from None
    return Landing(store, root, shown, scheme in _RENAMING)


def landing_for(where: server.Endpoint) -> Landing:
    """The landing's copy for the Spark in use: ``TALLYHOUSE_SPARK_LANDING_URI`` when set;
    else, for the local Spark, a folder beside its warehouse. A cluster's Spark reads its
    own storage: without the setting there is nowhere to write that it would read."""
    from pyarrow import fs

    uri = os.environ.get(LANDING_URI_ENV, "").strip()
    if uri:
        return parse_landing_uri(uri)
    if not where.local:
        raise server.SparkError(
            f"{where.describe()} is a cluster's: set {LANDING_URI_ENV} to a folder its "
            "Spark reads (s3a://bucket/tallyhouse, abfss://container@account.dfs.core."
            "windows.net/tallyhouse, gs://bucket/tallyhouse, hdfs://namenode/tallyhouse) "
            "and that this machine can write (the store's usual credentials: AWS_*, "
            "GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*)")
    folder = server.spark_dir() / "landing"
    folder.mkdir(parents=True, exist_ok=True)
    return Landing(fs.LocalFileSystem(), folder.as_posix(), folder.as_posix(), True)


def _sql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _same_place(one: str, other: str) -> bool:
    def plain(location: str) -> str:
        # Spark shows a location as a URI: escaped (a space as %20), `.`/`//` resolved
        location = unquote(location.strip())
        if location.startswith("file:"):
            location = location[len("file:"):]
        scheme, sep, rest = location.partition("://")
        if not sep:
            return posixpath.normpath("/" + location.lstrip("/"))
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}{posixpath.normpath('/' + path)}"

    return plain(one) == plain(other)


def _locations(spark_cur, schema: str) -> dict[str, str]:
    """Where each of the schema's tables reads its files from, in one statement."""
    spark_cur.execute(f"create database if not exists `{schema}`")
    spark_cur.execute(f"show table extended in `{schema}` like '*'")
    found = {}
    for row in spark_cur.fetchall():
        for line in str(row[-1]).splitlines():
            if line.startswith("Location:"):
                found[row[1]] = line.partition(":")[2].strip()
    return found


def _point_table(spark_cur, schema: str, table: str, columns, location: str,
                 current: str | None) -> None:
    """The table reads ``location`` (made with ``columns`` when Spark has none yet)."""
    name = f"`{schema}`.`{table}`"
    if current is None:
        cols = ", ".join(f"`{col}` {_spark_type(kind)}" for col, kind in columns)
        spark_cur.execute(f"create table if not exists {name} ({cols}) "
                          f"using parquet location {_sql_text(location)}")
    elif not _same_place(current, location):
        spark_cur.execute(f"alter table {name} set location {_sql_text(location)}")
    spark_cur.execute(f"refresh table {name}")


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
    store = landing_for(where)
    # one copy at a time (a run's and `tallyhouse spark sync` by hand, from any machine):
    # two would read the same state and both write the same new rows. The lock is
    # PostgreSQL's, where the landing comes from; held by a connection of its own
    lock = psycopg2.connect(database_url)
    try:
        lock.autocommit = True
        with lock.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (SYNC_LOCK_KEY,))
        return _sync(database_url, where, store, say)
    finally:
        lock.close()


def _sync(database_url: str, where: server.Endpoint, store: Landing,
          say: Callable[[str], None]) -> Copied:
    try:
        state = json.loads(store.read_text(STATE_FILE) or "{}")
    except ValueError:
        state = {}
    copied = Copied()

    def rewriting() -> None:
        """Before Spark's raw rows are replaced or re-pointed: what was built from them
        must be rebuilt, not extended — marked in PostgreSQL's build state first, so that
        a copy stopped half-way leaves the next run a whole build too."""
        if not copied.rewritten:
            build_state.begin(database_url)
            copied.rewritten = True

    conn = psycopg2.connect(database_url)
    try:
        # one snapshot of PostgreSQL for the whole copy: a load committing meanwhile is
        # copied next time, never half
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with server.connect(where) as spark:
            spark_cur = spark.cursor()
            placed = {schema: _locations(spark_cur, schema)
                      for schema in sorted({"raw", *(s for s, _ in CONTROL_TABLES)})}
            with conn.cursor() as cur:
                # the copy belongs to one PostgreSQL database: pointed at another one (another
                # TALLYHOUSE_DATABASE_URL), everything is copied again, never merged
                cur.execute("select current_database() || ':' || coalesce((select "
                            "file_id::text || ':' || file_sha256 || ':' || loaded_at::text "
                            "from raw._manifest order by file_id limit 1), '')")
                origin = cur.fetchone()[0]
                feeds = feed_tables(cur)
                moved_away = origin != state.get("_origin")
                if moved_away:
                    # another database's copy (or none recorded): nothing built on Spark
                    # so far was built from this one
                    rewriting()
                # raw tables this database has no feed for (another database's, or read
                # from another landing): emptied and pointed here, never left to be read
                control = {name for _, name in CONTROL_TABLES}
                for table in sorted((set(placed["raw"]) | {t for t in state
                                                           if not t.startswith("_")})
                                    - set(feeds) - control):
                    location = store.spark_location("raw", table)
                    current = placed["raw"].get(table)
                    if not moved_away and (current is None
                                           or _same_place(current, location)):
                        continue
                    rewriting()
                    store.empty(store.path("raw", table))
                    if current is not None:
                        _point_table(spark_cur, "raw", table, [], location, current)
                    copied[f"raw.{table}"] = 0
                if moved_away:
                    state = {"_origin": origin}
                for table in feeds:
                    columns = _columns(cur, "raw", table)
                    folder = store.path("raw", table)
                    known = state.get(table)
                    whole = known is None or _fingerprint(
                        cur, table, known["last_load_seq"]) != known
                    if whole and known is not None:
                        rewriting()  # rows changed under the last copy
                    location = store.spark_location("raw", table)
                    current = placed["raw"].get(table)
                    if current is not None and not _same_place(current, location):
                        # Spark read another landing's files until now (another
                        # TALLYHOUSE_SPARK_LANDING_URI): what it built is not this one's
                        rewriting()
                    if whole:
                        store.empty(folder)
                    else:
                        store.fs.create_dir(folder, recursive=True)
                    since = 0 if whole else known["last_load_seq"]
                    # files of a copy that stopped before it was recorded: copied again now
                    for name in store.files(folder):
                        if name.startswith("seq-") and int(name[4:16]) > since:
                            store.remove(f"{folder}/{name}", folder=False)
                    now = _fingerprint(cur, table)
                    rows = _write_batches(
                        conn, f'select {_select_list(columns)} from raw."{table}" '
                              f"where _load_seq > %s order by _load_seq, _line_no",
                        (since,), columns, store, folder,
                        f"seq-{since + 1:012d}-{uuid.uuid4().hex[:6]}")
                    _point_table(spark_cur, "raw", table, columns, location, current)
                    state[table] = now
                    store.write_text(STATE_FILE, json.dumps(state, indent=1, sort_keys=True))
                    copied[f"raw.{table}"] = rows
                    if rows:
                        say(f"raw.{table}: {rows} rows copied"
                            + (" (whole table: it changed since the last copy)"
                               if whole and known is not None else ""))
                for schema, table in sorted(CONTROL_TABLES):
                    columns = _columns(cur, schema, table)
                    if not columns:
                        continue
                    # each copy in a folder of its own, then the table pointed at it at
                    # once (a metastore change: the same on every store), the older ones
                    # removed after
                    folder = store.path(schema, table)
                    version = f"v-{uuid.uuid4().hex[:12]}"
                    store.fs.create_dir(f"{folder}/{version}", recursive=True)
                    rows = _write_batches(
                        conn, f'select {_select_list(columns)} from {schema}."{table}"', (),
                        columns, store, f"{folder}/{version}", "all")
                    current = placed[schema].get(table)
                    _point_table(spark_cur, schema, table, columns,
                                 store.spark_location(schema, table, version), current)
                    for name, is_folder in store.entries(folder):
                        if name != version:
                            store.remove(f"{folder}/{name}", folder=is_folder)
                    copied[f"{schema}.{table}"] = rows
        conn.rollback()
    finally:
        conn.close()
    return copied
