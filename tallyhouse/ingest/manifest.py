"""What was delivered and what became of it: ``raw._manifest`` (one row per file: records in
file = landed + quarantined + duplicates), ``raw._quarantine`` (records that could not be
landed, with file, line and reason), and the load lock under which loads are numbered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg2

from tallyhouse.sources import Feed, Source

# File loads take this transaction-level advisory lock and draw their load sequence
# number under it: loads commit in the order of their numbers, so a dbt build that has read
# every row up to number N never sees a row with a smaller number commit later.
LOAD_LOCK_KEY = 7_312_001


STATUS_LOADED = "loaded"


STATUS_DUPLICATE_FILE = "duplicate_file"


STATUS_CHANGED = "changed_content"


STATUS_REJECTED = "rejected"


@dataclass
class FileResult:
    source: str
    feed: str | None
    file_name: str
    status: str
    records_in_file: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    note: str = ""
    skipped: bool = False  # already in the manifest: nothing written at all
    # digest of the record hashes the file landed (the recount knows them again by it)
    records_digest: str | None = None


@dataclass
class SourceResult:
    source: str
    files: list[FileResult] = field(default_factory=list)

    def total(self, attr: str, feed: str | None = None) -> int:
        return sum(
            getattr(f, attr) for f in self.files if feed is None or f.feed == feed
        )

    def new_files(self, feed: str | None = None) -> list[FileResult]:
        return [f for f in self.files if not f.skipped and (feed is None or f.feed == feed)]


@dataclass
class Quarantined:
    line_no: int | None
    reason: str
    raw_text: str | None


def take_load_lock(cur) -> None:
    """The load lock (see LOAD_LOCK_KEY), until this transaction ends; re-entrant."""
    cur.execute("select pg_advisory_xact_lock(%s)", (LOAD_LOCK_KEY,))


def lock_and_number(cur) -> int:
    """Take the load lock (again after a rollback) and draw the load's sequence number."""
    take_load_lock(cur)
    cur.execute("select nextval('raw._load_seq')")
    return int(cur.fetchone()[0])


def known_stats(conn, source: Source) -> dict[str, tuple[int, int]]:
    """Size and modification time of the files of a source already in the manifest."""
    with conn.cursor() as cur:
        cur.execute("select distinct on (file_name) file_name, "
                    "coalesce(erased_size, size_bytes), coalesce(erased_mtime_ns, mtime_ns) "
                    "from raw._manifest where source = %s "
                    "and coalesce(erased_mtime_ns, mtime_ns) is not null "
                    "and status <> 'rejected' order by file_name, file_id desc", (source.name,))
        rows = cur.fetchall()
    conn.commit()
    return {name: (int(size), int(mtime)) for name, size, mtime in rows}


def insert_quarantine(conn, source: Source, feed: Feed | None, rel: str, sha: str,
                       bad: list[Quarantined]) -> None:
    if not bad:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw._quarantine (source, feed, file_name, file_sha256, line_no, reason,"
            " raw_text) values (%s, %s, %s, %s, %s, %s, %s)",
            [(source.name, feed.name if feed else None, rel, sha, q.line_no, q.reason, q.raw_text)
             for q in bad],
        )


def reject(conn, source: Source, feed: Feed | None, rel: str, sha: str, size: int, reason: str,
            started: float) -> FileResult:
    """Quarantine a file whole: one quarantine row, the file counted as one record."""
    insert_quarantine(conn, source, feed, rel, sha, [Quarantined(None, reason, None)])
    result = FileResult(source.name, feed.name if feed else None, rel, STATUS_REJECTED,
                        records_in_file=1, quarantined=1, note=reason)
    return record_manifest(conn, result, sha, size, started)


def record_duplicate_file(conn, source: Source, feed: Feed | None, rel: str, sha: str,
                           size: int, original_id: int, original_name: str,
                           started: float) -> FileResult:
    with conn.cursor() as cur:
        cur.execute("select records_in_file from raw._manifest where file_id = %s",
                    (original_id,))
        records = cur.fetchone()[0]
    result = FileResult(
        source.name, feed.name if feed else None, rel, STATUS_DUPLICATE_FILE,
        records_in_file=records, duplicates=records,
        note=f"same bytes as {original_name}, already loaded",
    )
    return record_manifest(conn, result, sha, size, started, duplicate_of=original_id)


def record_manifest(conn, result: FileResult, sha: str, size: int, started: float,
                     duplicate_of: int | None = None) -> FileResult:
    result.seconds = time.monotonic() - started
    with conn.cursor() as cur:
        take_load_lock(cur)  # a rejected file's rollback released it
        cur.execute(
            """
            insert into raw._manifest (source, feed, file_name, file_sha256, size_bytes, status,
                duplicate_of_file_id, records_in_file, records_landed, records_quarantined,
                records_duplicate, load_seconds, note, records_digest)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (result.source, result.feed, result.file_name, sha, size, result.status,
             duplicate_of, result.records_in_file, result.landed, result.quarantined,
             result.duplicates, round(result.seconds, 3), result.note or None,
             result.records_digest),
        )
    conn.commit()
    return result

# the record hashes of a set of raw rows, in one value (also computed by the recount)
RECORDS_DIGEST = "md5(string_agg(encode(_record_hash, 'hex'), ',' order by _record_hash))"


def landed_digest(cur, feed: Feed, seq: int) -> str | None:
    """Digest of the record hashes one load landed (its load number, by its index)."""
    cur.execute(f"select {RECORDS_DIGEST} from {feed.table} where _load_seq = %s", (seq,))
    return cur.fetchone()[0]


def database_unavailable(conn, exc: psycopg2.Error) -> bool:
    """The error says the database cannot go on (connection lost, out of disk or memory,
    shutting down), not that it refuses this file's content."""
    code = exc.pgcode or ""
    return (conn.closed != 0 or not code or code.startswith(("08", "53", "57", "58", "XX"))
            or isinstance(exc, psycopg2.InterfaceError))
