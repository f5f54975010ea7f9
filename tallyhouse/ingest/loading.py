"""Loading a landing folder: every new file of every source, one database transaction per
file; a file the database cannot take is rejected whole and recorded once, and only an
error that says the database cannot go on stops the step."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import psycopg2.extensions

from tallyhouse.ingest.csv_feeds import load_csv
from tallyhouse.ingest.files import (
    Delivered,
    FileChanged,
    FileRejected,
    Oversized,
    file_sha256,
    landing_files,
    not_a_regular_file,
    outside_landing,
)
from tallyhouse.ingest.jsonl import load_jsonl
from tallyhouse.ingest.manifest import (
    STATUS_CHANGED,
    STATUS_LOADED,
    STATUS_REJECTED,
    FileResult,
    SourceResult,
    database_unavailable,
    known_stats,
    record_duplicate_file,
    record_manifest,
    reject,
    take_load_lock,
)
from tallyhouse.ingest.schema import ensure_raw_schema
from tallyhouse.sources import SOURCES, Source, feed_for_file

log = logging.getLogger(__name__)


def load_all(conn, landing: Path, progress: Callable[[str], None] | None = None,
             rehash: bool = False) -> list[SourceResult]:
    return [load_source(conn, landing, source, progress, rehash=rehash) for source in SOURCES]


def load_source(
    conn: psycopg2.extensions.connection,
    landing: Path,
    source: Source,
    progress: Callable[[str], None] | None = None,
    rehash: bool = False,
) -> SourceResult:
    """Load every new file of ``landing/<source>/``. A missing folder is an empty source."""
    ensure_raw_schema(conn)
    result = SourceResult(source.name)
    files = landing_files(landing, source)
    if progress:
        progress(f"{source.name}: {len(files)} files in {landing / source.name}")
    known = {} if rehash else known_stats(conn, source)
    last_report = time.monotonic()
    for index, path in enumerate(files, start=1):
        rel = path.relative_to(landing).as_posix()
        seen = known.get(rel)
        if seen is not None and seen == stat_key(path):
            # same name, size and modification time as a file loaded before: not re-hashed
            # (``--rehash`` hashes every file again; the manifest stays the truth)
            result.files.append(FileResult(source.name, None, rel, "already_loaded",
                                           skipped=True))
            continue
        outcome = load_file(conn, landing, source, path)
        result.files.append(outcome)
        if not progress or outcome.skipped:
            continue
        if outcome.status != STATUS_LOADED or outcome.quarantined:
            progress(f"{source.name}: {rel}: {outcome.status}, {outcome.quarantined} "
                     f"quarantined. {outcome.note}".rstrip())
        if time.monotonic() - last_report > 5 or index == len(files):
            last_report = time.monotonic()
            new = result.new_files()
            progress(
                f"{source.name}: {index}/{len(files)} files, {len(new)} new, "
                f"{result.total('landed'):,} landed, {result.total('quarantined'):,} "
                f"quarantined, {result.total('duplicates'):,} duplicates skipped"
            )
    return result


def stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def load_file(
    conn: psycopg2.extensions.connection, landing: Path, source: Source, path: Path
) -> FileResult:
    stat = stat_key(path)
    result = _load_file(conn, landing, source, path)
    if stat is not None and result.status != STATUS_REJECTED:
        with conn.cursor() as cur:
            cur.execute("update raw._manifest set mtime_ns = %s where source = %s and "
                        "file_name = %s and size_bytes = %s and mtime_ns is null",
                        (stat[1], source.name, result.file_name, stat[0]))
        conn.commit()
    return result


def _load_file(
    conn: psycopg2.extensions.connection, landing: Path, source: Source, path: Path
) -> FileResult:
    rel = path.relative_to(landing).as_posix()
    started = time.monotonic()
    feed = feed_for_file(source, rel)
    # a path that is refused is never opened: a name-based hash stands in for its content,
    # so it is recorded once and not tried again
    outside = outside_landing(landing, path)
    refused = outside or not_a_regular_file(path)
    size = 0
    if refused:
        sha = ("outside:" if outside else "refused:") + hashlib.sha256(rel.encode()).hexdigest()
    else:
        try:
            size = path.stat().st_size
            sha = file_sha256(path)
        except OSError as exc:
            sha = "unreadable:" + hashlib.sha256(rel.encode()).hexdigest()
            refused, size = f"file cannot be read: {exc}", 0

    with conn.cursor() as cur:
        # Held until this file's transaction commits; a concurrent loader of the same
        # file waits here and then finds it in the manifest.
        take_load_lock(cur)
        cur.execute(
            "select file_id, file_name, file_sha256, status, erased_sha256 from raw._manifest "
            "where source = %s and (file_sha256 = %s or file_name = %s or erased_sha256 = %s) "
            "order by file_id",
            (source.name, sha, rel, sha),
        )
        found = cur.fetchall()
    # a file tallyhouse forget rewrote is the file that was loaded, erased
    known = [(file_id, name, sha if erased == sha else digest, status)
             for file_id, name, digest, status, erased in found]
    if any(name == rel and digest == sha for _, name, digest, _ in known):
        return FileResult(source.name, feed.name if feed else None, rel, "already_loaded",
                          skipped=True)
    if refused:
        conn.commit()  # the load lock's transaction: nothing written yet
        return reject(conn, source, feed, rel, sha, 0, refused, started)
    same_bytes = [row for row in known if row[2] == sha and row[3] == STATUS_LOADED]
    if same_bytes:
        original_id, original_name = same_bytes[0][0], same_bytes[0][1]
        return record_duplicate_file(conn, source, feed, rel, sha, size, original_id,
                                      original_name, started)
    same_name = [row for row in known if row[1] == rel and row[3] == STATUS_LOADED]
    if same_name and grew_from(path, same_name[-1][2], conn):
        same_name = []  # the loaded file, with records appended: loaded again (see grew_from)
    if same_name:
        note = (f"content changed since it was loaded (was sha256 {same_name[0][2][:12]}…): "
                "not merged; deliver corrections under a new file name")
        # how many records are out of the marts because of it (for the report)
        try:
            with Delivered(path) as handle:
                records = sum(1 for line in handle
                              if isinstance(line, Oversized) or line.strip())
        except FileRejected:
            records = 0
        if feed is not None and feed.fmt == "csv":
            records = max(records - 1, 0)  # the header
        return record_manifest(conn, FileResult(source.name, feed.name if feed else None, rel,
                                                 STATUS_CHANGED, records_in_file=records,
                                                 note=note), sha, size, started)
    if feed is None:
        expected = ", ".join(f"{f.name}*{f.extension}" for f in source.feeds)
        return reject(conn, source, None, rel, sha, size,
                       f"file name matches no feed of source {source.name} (expected {expected})",
                       started)
    try:
        if feed.fmt == "jsonl":
            return load_jsonl(conn, source, feed, path, rel, sha, size, started)
        return load_csv(conn, source, feed, path, rel, sha, size, started)
    except FileRejected as exc:
        conn.rollback()
        return reject(conn, source, feed, rel, sha, size, str(exc), started)
    except FileChanged as exc:
        conn.rollback()
        log.info("%s: %s", rel, exc)
        return FileResult(source.name, feed.name, rel, "deferred", note=str(exc), skipped=True)
    except psycopg2.Error as exc:
        if database_unavailable(conn, exc):
            raise  # a step that cannot run: no database, no disk, shut down
        # the database would not take this file (a limit, a value it refuses): the file is
        # rejected whole and recorded once, the run goes on; it is tried again only when its
        # content changes (another sha256)
        conn.rollback()
        message = (exc.pgerror or str(exc)).strip().splitlines()[0][:500]
        log.warning("%s: rejected, the database refused it: %s", rel, message)
        return reject(conn, source, feed, rel, sha, size,
                       f"the database refused the file ({exc.pgcode}): {message}", started)


def grew_from(path: Path, loaded_sha: str, conn) -> bool:
    """The file under a loaded name is that file with lines appended (it was loaded while it
    was still being written): its first bytes are the loaded file's. Its
    records are loaded again; those already landed count as duplicates, the rest land, so
    nothing that arrived late is left out as a "changed file". A compressed file is never
    taken as grown."""
    if path.name.endswith(".gz"):
        return False
    with conn.cursor() as cur:
        cur.execute("select size_bytes from raw._manifest where file_sha256 = %s "
                    "order by file_id limit 1", (loaded_sha,))
        row = cur.fetchone()
    if row is None or not row[0]:
        return False
    loaded_size = int(row[0])
    try:
        with path.open("rb") as handle:
            if path.stat().st_size <= loaded_size:
                return False
            digest = hashlib.sha256()
            left = loaded_size
            while left:
                block = handle.read(min(left, 1 << 20))
                if not block:
                    return False
                digest.update(block)
                left -= len(block)
    except OSError:
        return False
    # (a last line cut in the middle was quarantined as truncated; complete now, it lands)
    return digest.hexdigest() == loaded_sha
