"""Idempotent bulk loading of landing files into schema ``raw``.

Per file, in one database transaction:

* the file's sha256 decides whether it is new, an exact copy under another name
  (recorded, not loaded again) or a changed file under a name already loaded
  (flagged, not merged);
* every record is streamed with COPY into a temporary stage; records that cannot be
  landed (bad encoding, NUL bytes, malformed JSON, a truncated last line, a wrong CSV
  column count) go to ``raw._quarantine`` with file, line, raw text and reason;
* valid records are inserted once per record hash: a record already landed from any
  file is an exact duplicate and is skipped (and counted);
* ``raw._manifest`` gets one row with records in file = landed + quarantined +
  duplicates skipped.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extensions

from tallyhouse.sources import FEEDS, SOURCES, Feed, Source, feed_for_file

log = logging.getLogger(__name__)

# File loads take this transaction-level advisory lock and draw their load sequence
# number under it: loads commit in the order of their numbers, so a dbt build that has read
# every row up to number N never sees a row with a smaller number commit later.
LOAD_LOCK_KEY = 7_312_001
COPY_CHUNK_LINES = 2_000
COPY_READ_SIZE = 1 << 20
QUARANTINE_TEXT_LIMIT = 100_000  # characters of a bad record kept for inspection

STATUS_LOADED = "loaded"
STATUS_DUPLICATE_FILE = "duplicate_file"
STATUS_CHANGED = "changed_content"
STATUS_REJECTED = "rejected"


def ddl_statements() -> list[str]:
    statements = [
        "create schema if not exists raw",
        "create sequence if not exists raw._load_seq",
        """
        create table if not exists raw._manifest (
            file_id bigserial primary key,
            source text not null,
            feed text,
            file_name text not null,
            file_sha256 text not null,
            size_bytes bigint not null,
            status text not null,
            duplicate_of_file_id bigint references raw._manifest (file_id),
            records_in_file bigint not null,
            records_landed bigint not null,
            records_quarantined bigint not null,
            records_duplicate bigint not null,
            load_seconds numeric(12, 3),
            note text,
            loaded_at timestamptz not null default now(),
            unique (source, file_name, file_sha256)
        )
        """,
        """
        create table if not exists raw._quarantine (
            quarantine_id bigserial primary key,
            source text not null,
            feed text,
            file_name text not null,
            file_sha256 text not null,
            line_no bigint,
            reason text not null,
            raw_text text,
            quarantined_at timestamptz not null default now()
        )
        """,
        "create index if not exists quarantine_file_idx on raw._quarantine (file_sha256)",
        # size + modification time of a loaded file: seen again unchanged, it is not re-hashed
        "alter table raw._manifest add column if not exists mtime_ns bigint",
        # a loaded file that tallyhouse forget rewrote in landing/: the same file, erased
        "alter table raw._manifest add column if not exists erased_sha256 text",
        "alter table raw._manifest add column if not exists erased_size bigint",
        "alter table raw._manifest add column if not exists erased_mtime_ns bigint",
        # Nothing ever deletes from or edits a raw table (erasure rewrites in place and says
        # so in _rewritten_hash): a delete, truncate or update is noted here, and the next
        # run recounts and rehashes that feed's rows in full instead of only the files it
        # loaded (count_identity_breaks), and rebuilds the marts from raw (build_state).
        """
        create table if not exists raw._row_changes (
            feed text not null,
            kind text not null,
            noticed_at timestamptz not null default now(),
            recounted_at timestamptz
        )
        """,
        """
        do $$
        begin
            if to_regclass('raw._row_losses') is not null then
                insert into raw._row_changes (feed, kind, noticed_at, recounted_at)
                select feed, 'delete', noticed_at, recounted_at from raw._row_losses;
                drop table raw._row_losses;
            end if;
        end
        $$
        """,
        """
        create or replace function raw.note_row_change() returns trigger
        language plpgsql as $$
        begin
            insert into raw._row_changes (feed, kind) values (tg_table_name, lower(tg_op));
            return null;
        end
        $$
        """,
        # what the last recount of each feed found: rows missing from a file, rows whose
        # content no longer matches the hash they were landed with (the raw_intact check)
        """
        create table if not exists raw._integrity_breaks (
            feed text not null,
            source text not null,
            file_name text not null,
            line_no bigint,
            kind text not null,
            detail text not null,
            found_at timestamptz not null default now()
        )
        """,
    ]
    for feed in FEEDS:
        if feed.fmt == "jsonl":
            body = "payload json not null"
        else:
            body = ",\n            ".join(f"{col} text" for col in feed.columns)
        statements.append(
            f"""
            create table if not exists {feed.table} (
                _file_name text not null,
                _file_sha256 text not null,
                _line_no bigint not null,
                _record_hash bytea not null,
                _loaded_at timestamptz not null default now(),
                _load_seq bigint not null,
                {body}
            )
            """
        )
        # warehouses loaded before the load sequence: their rows count as loaded first
        statements.append(f"alter table {feed.table} add column if not exists "
                          "_load_seq bigint not null default 0")
        statements.append(
            f"create unique index if not exists {feed.name}_record_hash_uidx "
            f"on {feed.table} (_record_hash)"
        )
        # incremental staging reads the rows loaded since its last build by this index
        statements.append(
            f"create index if not exists {feed.name}_load_seq_idx on {feed.table} (_load_seq)"
        )
        # the hash of a record's content after an erasure rewrote it (tallyhouse forget)
        statements.append(f"alter table {feed.table} add column if not exists "
                          "_rewritten_hash bytea")
        statements.append(f"drop trigger if exists {feed.name}_row_loss on {feed.table}")
        statements.append(
            f"create or replace trigger {feed.name}_row_change after delete or truncate or "
            f"update on {feed.table} for each statement execute function raw.note_row_change()"
        )
    statements.append("drop function if exists raw.note_row_loss()")
    return statements


def content_hash_sql(feed: Feed) -> str:
    """The SQL that hashes a raw row's content the way the loader hashed the record it
    landed (``_record_hash``): the line's bytes for JSON (the ``json`` type keeps the text
    as delivered), the cells joined by the unit separator for CSV."""
    if feed.fmt == "jsonl":
        return "sha256(convert_to(payload::text, 'UTF8'))"
    cells = " || chr(31) || ".join(f"coalesce({c}, '')" for c in feed.columns)
    return f"sha256(convert_to({cells}, 'UTF8'))"


def ensure_raw_schema(conn: psycopg2.extensions.connection) -> None:
    with conn.cursor() as cur:
        # One loader at a time creates the schema; concurrent `create if not exists` races.
        cur.execute("select pg_advisory_xact_lock(hashtext('tallyhouse.raw_ddl'))")
        for statement in ddl_statements():
            cur.execute(statement)
    conn.commit()


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


@dataclass(frozen=True)
class Limits:
    """What one delivered record or file may be, so that no file can stop the books.

    A record (a line) longer than ``record_bytes`` is quarantined with its file, line and
    size, never held in memory whole; a file that expands past ``expanded_bytes`` or, once
    past ``ratio_floor_bytes``, to more than ``expansion_ratio`` times its compressed size
    (a decompression bomb) is rejected whole and recorded once. Settings:
    TALLYHOUSE_MAX_RECORD_BYTES, TALLYHOUSE_MAX_EXPANDED_BYTES, TALLYHOUSE_MAX_EXPANSION_RATIO.
    """

    record_bytes: int = 32 << 20
    expanded_bytes: int = 16 << 30
    expansion_ratio: float = 200.0
    ratio_floor_bytes: int = 256 << 20

    @classmethod
    def from_env(cls) -> Limits:
        import os

        def number(name: str, default, kind=int):
            raw = os.environ.get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not a number") from exc
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {raw!r}")
            return value

        base = cls()
        return cls(record_bytes=number("TALLYHOUSE_MAX_RECORD_BYTES", base.record_bytes),
                   expanded_bytes=number("TALLYHOUSE_MAX_EXPANDED_BYTES", base.expanded_bytes),
                   expansion_ratio=number("TALLYHOUSE_MAX_EXPANSION_RATIO",
                                          base.expansion_ratio, float),
                   ratio_floor_bytes=min(base.ratio_floor_bytes,
                                         number("TALLYHOUSE_MAX_RECORD_BYTES",
                                                base.record_bytes) * 8))


@dataclass(frozen=True)
class Oversized:
    """A line longer than the record limit: its first bytes and its whole size."""

    head: bytes
    size: int

    def reason(self, limits: Limits) -> str:
        return (f"record of {self.size:,} bytes exceeds the limit of {limits.record_bytes:,} "
                "bytes per record (TALLYHOUSE_MAX_RECORD_BYTES): not landed")


class _Delivered:
    """A delivered file's lines, from a plain or a gzip (``.gz``) file, streamed with every
    line bounded (``Limits.record_bytes``): an over-long line comes out as :class:`Oversized`
    and is read past in blocks, never held whole.

    A damaged compressed stream, or one that expands past the limits, stops the file, not
    the run: it is rejected whole."""

    READ_BLOCK = 1 << 20

    def __init__(self, path: Path, limits: Limits | None = None):
        self.path = path
        self.limits = limits or Limits.from_env()
        self.compressed = path.name.endswith(".gz")
        self.size = path.stat().st_size if self.compressed else 0
        self.expanded = 0
        self._handle = gzip.open(path, "rb") if self.compressed else path.open("rb")

    def __enter__(self) -> _Delivered:
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()

    def _count(self, data: bytes) -> None:
        self.expanded += len(data)
        limits = self.limits
        if self.expanded > limits.expanded_bytes:
            raise _FileRejected(
                f"the file expands past {limits.expanded_bytes:,} bytes "
                "(TALLYHOUSE_MAX_EXPANDED_BYTES): rejected whole, not loaded")
        if (self.compressed and self.expanded > limits.ratio_floor_bytes
                and self.expanded > limits.expansion_ratio * max(self.size, 1)):
            raise _FileRejected(
                f"the compressed file ({self.size:,} bytes) expands to more than "
                f"{limits.expansion_ratio:g} times its size ({self.expanded:,} bytes read so "
                "far; TALLYHOUSE_MAX_EXPANSION_RATIO): rejected whole as a decompression "
                "bomb, not loaded")

    def __iter__(self) -> Iterator[bytes | Oversized]:
        limit = self.limits.record_bytes
        try:
            while True:
                line = self._handle.readline(limit + 1)
                if not line:
                    return
                self._count(line)
                if len(line) <= limit or line.endswith(b"\n"):
                    yield line
                    continue
                head, size = line[:QUARANTINE_TEXT_LIMIT], len(line)
                while not line.endswith(b"\n"):
                    line = self._handle.readline(self.READ_BLOCK)
                    if not line:
                        break
                    self._count(line)
                    size += len(line)
                yield Oversized(head, size)
        except (OSError, EOFError, zlib.error) as exc:
            raise _FileRejected(f"the file cannot be read to its end: {exc}") from exc


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def landing_files(landing: Path, source: Source) -> list[Path]:
    folder = landing / source.name
    if not folder.is_dir():
        return []
    # A name starting with a dot, or a dot folder, is not delivered yet or not for loading:
    # the receiver's open files, its set-aside torn lines, editors' temporary files.
    # links are listed too (a link out of the landing folder is refused when loaded)
    return sorted(p for p in folder.rglob("*") if (p.is_file() or p.is_symlink())
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def outside_landing(landing: Path, path: Path) -> str | None:
    """Why a delivered path may not be read (it leads outside the landing folder), or None."""
    try:
        real = path.resolve(strict=True)
        real.relative_to(landing.resolve(strict=True))
    except ValueError:
        return ("refused, not read: a link to a file outside the landing folder "
                f"(to {path.resolve()})")
    except OSError as exc:
        return f"refused, not read: cannot resolve its real path ({exc.strerror})"
    return None


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
    known = {} if rehash else _known_stats(conn, source)
    last_report = time.monotonic()
    for index, path in enumerate(files, start=1):
        rel = path.relative_to(landing).as_posix()
        seen = known.get(rel)
        if seen is not None and seen == _stat_key(path):
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


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _known_stats(conn, source: Source) -> dict[str, tuple[int, int]]:
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


def load_file(
    conn: psycopg2.extensions.connection, landing: Path, source: Source, path: Path
) -> FileResult:
    stat = _stat_key(path)
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
    outside = outside_landing(landing, path)
    try:
        if outside:  # never opened: a name-based hash stands in for its content
            sha, size = "outside:" + hashlib.sha256(rel.encode()).hexdigest(), 0
        else:
            sha = file_sha256(path)
            size = path.stat().st_size
    except OSError as exc:
        # Unreadable: quarantine the file whole under a synthetic hash of its name.
        sha = "unreadable:" + hashlib.sha256(rel.encode()).hexdigest()
        return _reject(conn, source, feed, rel, sha, 0, f"file cannot be read: {exc}", started)

    with conn.cursor() as cur:
        # Held until this file's transaction commits; a concurrent loader of the same
        # file waits here and then finds it in the manifest.
        _take_load_lock(cur)
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
    if outside:
        return _reject(conn, source, feed, rel, sha, 0, outside, started)
    same_bytes = [row for row in known if row[2] == sha and row[3] == STATUS_LOADED]
    if same_bytes:
        original_id, original_name = same_bytes[0][0], same_bytes[0][1]
        return _record_duplicate_file(conn, source, feed, rel, sha, size, original_id,
                                      original_name, started)
    same_name = [row for row in known if row[1] == rel and row[3] == STATUS_LOADED]
    if same_name:
        note = (f"content changed since it was loaded (was sha256 {same_name[0][2][:12]}…): "
                "not merged; deliver corrections under a new file name")
        # how many records are out of the marts because of it (for the report)
        try:
            with _Delivered(path) as handle:
                records = sum(1 for line in handle
                              if isinstance(line, Oversized) or line.strip())
        except _FileRejected:
            records = 0
        if feed is not None and feed.fmt == "csv":
            records = max(records - 1, 0)  # the header
        return _record_manifest(conn, FileResult(source.name, feed.name if feed else None, rel,
                                                 STATUS_CHANGED, records_in_file=records,
                                                 note=note), sha, size, started)
    if feed is None:
        expected = ", ".join(f"{f.name}*{f.extension}" for f in source.feeds)
        return _reject(conn, source, None, rel, sha, size,
                       f"file name matches no feed of source {source.name} (expected {expected})",
                       started)
    try:
        if feed.fmt == "jsonl":
            return _load_jsonl(conn, source, feed, path, rel, sha, size, started)
        return _load_csv(conn, source, feed, path, rel, sha, size, started)
    except _FileRejected as exc:
        conn.rollback()
        return _reject(conn, source, feed, rel, sha, size, str(exc), started)
    except psycopg2.Error as exc:
        if _database_unavailable(conn, exc):
            raise  # a step that cannot run: no database, no disk, shut down
        # the database would not take this file (a limit, a value it refuses): the file is
        # rejected whole and recorded once, the run goes on; it is tried again only when its
        # content changes (another sha256)
        conn.rollback()
        message = (exc.pgerror or str(exc)).strip().splitlines()[0][:500]
        log.warning("%s: rejected, the database refused it: %s", rel, message)
        return _reject(conn, source, feed, rel, sha, size,
                       f"the database refused the file ({exc.pgcode}): {message}", started)


def _database_unavailable(conn, exc: psycopg2.Error) -> bool:
    """The error says the database cannot go on (connection lost, out of disk or memory,
    shutting down), not that it refuses this file's content."""
    code = exc.pgcode or ""
    return (conn.closed != 0 or not code or code.startswith(("08", "53", "57", "58", "XX"))
            or isinstance(exc, psycopg2.InterfaceError))


def _take_load_lock(cur) -> None:
    """The load lock (see LOAD_LOCK_KEY), until this transaction ends; re-entrant."""
    cur.execute("select pg_advisory_xact_lock(%s)", (LOAD_LOCK_KEY,))


def _lock_and_number(cur) -> int:
    """Take the load lock (again after a rollback) and draw the load's sequence number."""
    _take_load_lock(cur)
    cur.execute("select nextval('raw._load_seq')")
    return int(cur.fetchone()[0])


class _FileRejected(Exception):
    """The file as a whole cannot be read as its feed (e.g. a wrong CSV header)."""


class _IterStream(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks, for COPY FROM STDIN."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")
        self._offset = 0
        # a file that cannot be read to its end ends the COPY early; raised after it
        self.failure: _FileRejected | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer):
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except _FileRejected as exc:
                self.failure = exc
                return 0
            self._offset = 0
        size = min(len(target), len(self._buffer) - self._offset)
        target[:size] = self._buffer[self._offset:self._offset + size]
        self._offset += size
        return size


def _copy_escape(value: bytes) -> bytes:
    """Escape a value for COPY's text format."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\t" in value:
        value = value.replace(b"\t", b"\\t")
    if b"\r" in value:
        value = value.replace(b"\r", b"\\r")
    if b"\n" in value:
        value = value.replace(b"\n", b"\\n")
    return value


@dataclass
class _Quarantined:
    line_no: int | None
    reason: str
    raw_text: str | None


def _raw_text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return text[:QUARANTINE_TEXT_LIMIT]


def _check_line(raw: bytes) -> str | None:
    """Why a physical line cannot be landed as text, or None."""
    if b"\x00" in raw:
        return "NUL byte in record"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 encoding at byte {exc.start}: {exc.reason}"
    return None


def _load_jsonl(conn, source: Source, feed: Feed, path: Path, rel: str, sha: str, size: int,
                started: float) -> FileResult:
    """Stream the file into a stage whose column is ``json``: PostgreSQL validates each
    record once, during COPY, while this process checks encoding and hashes the next lines.

    A file with a record that is not JSON makes that COPY fail; it is then loaded again
    on the careful path, where each record is checked on its own and a bad one gets the
    parser's message. Clean files, the norm, pay for one validation.
    """
    try:
        return _load_jsonl_staged(conn, source, feed, path, rel, sha, size, started,
                                  careful=False)
    except psycopg2.Error as exc:
        if _database_unavailable(conn, exc):
            raise
        conn.rollback()
        log.info("%s: not every record is JSON; checking them one by one", rel)
        return _load_jsonl_staged(conn, source, feed, path, rel, sha, size, started,
                                  careful=True)


# Records that are valid JSON but that jsonb (used from staging on) cannot hold:
# \u0000 and broken surrogate pairs. Only records with a \u escape can be such.
_JSONB_PROBLEM = "has_escape and not pg_input_is_valid({text}, 'jsonb')"
_JSONB_REASON = "'JSON that jsonb cannot hold: ' || (pg_input_error_info({text}, 'jsonb')).message"


def _shape_reason(feed: Feed, value: str) -> tuple[str, str]:
    """The SQL test that a record is not of a JSON type the feed delivers, and its reason."""
    shapes = ", ".join(f"'{shape}'" for shape in feed.json_shapes)
    wanted = " or ".join(f"an {shape}" for shape in feed.json_shapes)
    return (f"json_typeof({value}) not in ({shapes})",
            f"'JSON is ' || json_typeof({value}) || ', not {wanted} as {feed.name} delivers'")


def _quarantine_fast(feed: Feed) -> str:
    wrong, why = _shape_reason(feed, "payload")
    return f"""
    select line_no,
           case when {wrong} then {why}
                else {_JSONB_REASON.format(text="payload::text")} end as reason,
           payload::text as raw_text
    from _stage
    where {wrong}
       or {_JSONB_PROBLEM.format(text="payload::text")}
"""


def _quarantine_careful(feed: Feed) -> str:
    wrong, why = _shape_reason(feed, "body::json")
    return f"""
    select line_no, reason, body as raw_text
    from (
        select line_no, body,
               case
                   when not pg_input_is_valid(body, 'json') and unterminated
                       then 'truncated last line (no newline at end of file): '
                            || (pg_input_error_info(body, 'json')).message
                   when not pg_input_is_valid(body, 'json')
                       then 'malformed JSON: ' || (pg_input_error_info(body, 'json')).message
                   when {wrong} then {why}
                   when {_JSONB_PROBLEM.format(text="body")}
                       then {_JSONB_REASON.format(text="body")}
               end as reason
        from _stage
    ) as checked
    where reason is not null
"""


def _load_jsonl_staged(conn, source: Source, feed: Feed, path: Path, rel: str, sha: str,
                       size: int, started: float, careful: bool) -> FileResult:
    bad: list[_Quarantined] = []
    counts = {"records": 0, "staged": 0}

    def stage_rows(handle) -> Iterator[bytes]:
        batch: list[bytes] = []
        for line_no, raw_line in enumerate(handle, start=1):
            if isinstance(raw_line, Oversized):
                counts["records"] += 1
                bad.append(_Quarantined(line_no, raw_line.reason(handle.limits),
                                        _raw_text(raw_line.head)))
                continue
            body = raw_line.rstrip(b"\r\n")
            if not body.strip():
                continue
            counts["records"] += 1
            problem = _check_line(body)
            if problem:
                bad.append(_Quarantined(line_no, problem, _raw_text(body)))
                continue
            digest = hashlib.sha256(body).hexdigest().encode()
            flags = b"t" if b"\\u" in body else b"f"
            if careful:
                # Only the last line of a file can lack its newline.
                flags += b"\tf" if raw_line.endswith(b"\n") else b"\tt"
            batch.append(b"%d\t\\\\x%s\t%s\t%s\n" % (line_no, digest, _copy_escape(body),
                                                       flags))
            counts["staged"] += 1
            if len(batch) >= COPY_CHUNK_LINES:
                yield b"".join(batch)
                batch = []
        if batch:
            yield b"".join(batch)

    if careful:
        stage = "line_no bigint, record_hash bytea, body text, has_escape boolean, " \
                "unterminated boolean"
        checks, value = _quarantine_careful(feed), "body::json"
    else:
        stage = "line_no bigint, record_hash bytea, payload json, has_escape boolean"
        checks, value = _quarantine_fast(feed), "payload"
    with conn.cursor() as cur, _Delivered(path) as handle:
        cur.execute(f"create temp table _stage ({stage}) on commit drop")
        stream = _IterStream(stage_rows(handle))
        cur.copy_expert("copy _stage from stdin", stream, COPY_READ_SIZE)
        if stream.failure is not None:
            raise stream.failure
        cur.execute(
            f"""
            insert into raw._quarantine (source, feed, file_name, file_sha256, line_no, reason,
                                         raw_text)
            select %(source)s, %(feed)s, %(file)s, %(sha)s, line_no, reason,
                   left(raw_text, %(limit)s)
            from ({checks}) as bad
            returning line_no
            """,
            {"source": source.name, "feed": feed.name, "file": rel, "sha": sha,
             "limit": QUARANTINE_TEXT_LIMIT},
        )
        rejected = [row[0] for row in cur.fetchall()]
        seq = _lock_and_number(cur)
        cur.execute(
            f"""
            insert into {feed.table} (_file_name, _file_sha256, _line_no, _record_hash,
                                      _load_seq, payload)
            select %(file)s, %(sha)s, line_no, record_hash, %(seq)s, {value}
            from _stage
            where line_no <> all(%(bad)s::bigint[])
            order by line_no
            on conflict (_record_hash) do nothing
            """,
            {"file": rel, "sha": sha, "bad": rejected, "seq": seq},
        )
        landed = cur.rowcount
    _insert_quarantine(conn, source, feed, rel, sha, bad)
    result = FileResult(
        source.name, feed.name, rel, STATUS_LOADED, records_in_file=counts["records"],
        landed=landed, quarantined=len(bad) + len(rejected),
        duplicates=counts["staged"] - len(rejected) - landed,
    )
    return _record_manifest(conn, result, sha, size, started)


def _load_csv(conn, source: Source, feed: Feed, path: Path, rel: str, sha: str, size: int,
              started: float) -> FileResult:
    bad: list[_Quarantined] = []
    position = {"line": 0}
    counts = {"unread": 0}  # lines quarantined before the CSV parser sees them
    records = 0

    def decoded_lines(handle) -> Iterator[str]:
        for raw_line in handle:
            position["line"] += 1
            if isinstance(raw_line, Oversized):
                counts["unread"] += 1
                bad.append(_Quarantined(position["line"], raw_line.reason(handle.limits),
                                        _raw_text(raw_line.head)))
                continue
            body = raw_line.rstrip(b"\r\n")
            problem = _check_line(body)
            if problem:
                counts["unread"] += 1
                bad.append(_Quarantined(position["line"], problem, _raw_text(body)))
                continue
            yield body.decode("utf-8") + "\n"

    width = len(feed.columns)
    with _Delivered(path) as handle:
        reader = csv.reader(decoded_lines(handle))
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise _FileRejected(f"CSV cannot be parsed: {exc}") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        if tuple(header) != feed.columns:
            raise _FileRejected(
                f"CSV header does not match feed {feed.name}: expected "
                f"{','.join(feed.columns)}; got {','.join(header) or '(empty file)'}"
            )
        rows: list[bytes] = []
        start_line = position["line"] + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                records += 1
                bad.append(_Quarantined(start_line, f"CSV cannot be parsed: {exc}", None))
                start_line = position["line"] + 1
                continue
            line_no = start_line
            start_line = position["line"] + 1
            if not row or all(not cell.strip() for cell in row):
                continue
            records += 1
            if len(row) != width:
                bad.append(_Quarantined(
                    line_no, f"expected {width} columns, got {len(row)}",
                    _raw_text(",".join(row).encode()),
                ))
                continue
            encoded = [cell.encode("utf-8") for cell in row]
            digest = hashlib.sha256(b"\x1f".join(encoded)).hexdigest().encode()
            rows.append(
                b"%d\t\\\\x%s\t%s\n" % (line_no, digest,
                                       b"\t".join(_copy_escape(c) for c in encoded))
            )

    with conn.cursor() as cur:
        cols = ", ".join(f"{c} text" for c in feed.columns)
        cur.execute(
            f"create temp table _stage (line_no bigint, record_hash bytea, {cols}) on commit drop"
        )
        cur.copy_expert(
            "copy _stage from stdin",
            _IterStream(b"".join(rows[i:i + COPY_CHUNK_LINES])
                        for i in range(0, len(rows), COPY_CHUNK_LINES)),
        )
        collist = ", ".join(feed.columns)
        seq = _lock_and_number(cur)
        cur.execute(
            f"""
            insert into {feed.table} (_file_name, _file_sha256, _line_no, _record_hash,
                                      _load_seq, {collist})
            select %(file)s, %(sha)s, line_no, record_hash, %(seq)s, {collist}
            from _stage
            order by line_no
            on conflict (_record_hash) do nothing
            """,
            {"file": rel, "sha": sha, "seq": seq},
        )
        landed = cur.rowcount
    _insert_quarantine(conn, source, feed, rel, sha, bad)
    result = FileResult(
        source.name, feed.name, rel, STATUS_LOADED, records_in_file=records + counts["unread"],
        landed=landed, quarantined=len(bad), duplicates=len(rows) - landed,
    )
    return _record_manifest(conn, result, sha, size, started)


def _insert_quarantine(conn, source: Source, feed: Feed | None, rel: str, sha: str,
                       bad: list[_Quarantined]) -> None:
    if not bad:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw._quarantine (source, feed, file_name, file_sha256, line_no, reason,"
            " raw_text) values (%s, %s, %s, %s, %s, %s, %s)",
            [(source.name, feed.name if feed else None, rel, sha, q.line_no, q.reason, q.raw_text)
             for q in bad],
        )


def _reject(conn, source: Source, feed: Feed | None, rel: str, sha: str, size: int, reason: str,
            started: float) -> FileResult:
    """Quarantine a file whole: one quarantine row, the file counted as one record."""
    _insert_quarantine(conn, source, feed, rel, sha, [_Quarantined(None, reason, None)])
    result = FileResult(source.name, feed.name if feed else None, rel, STATUS_REJECTED,
                        records_in_file=1, quarantined=1, note=reason)
    return _record_manifest(conn, result, sha, size, started)


def _record_duplicate_file(conn, source: Source, feed: Feed | None, rel: str, sha: str,
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
    return _record_manifest(conn, result, sha, size, started, duplicate_of=original_id)


def _record_manifest(conn, result: FileResult, sha: str, size: int, started: float,
                     duplicate_of: int | None = None) -> FileResult:
    result.seconds = time.monotonic() - started
    with conn.cursor() as cur:
        _take_load_lock(cur)  # a rejected file's rollback released it
        cur.execute(
            """
            insert into raw._manifest (source, feed, file_name, file_sha256, size_bytes, status,
                duplicate_of_file_id, records_in_file, records_landed, records_quarantined,
                records_duplicate, load_seconds, note)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (result.source, result.feed, result.file_name, sha, size, result.status,
             duplicate_of, result.records_in_file, result.landed, result.quarantined,
             result.duplicates, round(result.seconds, 3), result.note or None),
        )
    conn.commit()
    return result


@dataclass(frozen=True)
class LoadMark:
    """Where a feed stood before a run's loads: its highest load number and manifest id."""

    load_seq: int
    file_id: int


def load_mark(conn, feed: Feed) -> LoadMark:
    """The feed's highest load number (by its index) and the manifest's highest file id."""
    with conn.cursor() as cur:
        cur.execute(f"select coalesce(max(_load_seq), -1) from {feed.table}")
        load_seq = int(cur.fetchone()[0])
        cur.execute("select coalesce(max(file_id), 0) from raw._manifest")
        file_id = int(cur.fetchone()[0])
    conn.commit()
    return LoadMark(load_seq, file_id)


def rows_changed_since_recount(conn, feed: Feed) -> bool:
    """A delete, truncate or update on the feed's raw table not yet followed by a clean
    full recount."""
    with conn.cursor() as cur:
        cur.execute("select exists (select from raw._row_changes "
                    "where feed = %s and recounted_at is null)", (feed.name,))
        return bool(cur.fetchone()[0])


def count_identity_breaks(conn, feed: Feed, since: LoadMark | None = None) -> list[dict]:
    """Files of a feed whose records in file != landed + quarantined + duplicates, and (on a
    full recount) rows whose content no longer matches the hash they were landed with.

    Counts come from the tables themselves, not from the loader's own tally, so a row
    lost or deleted after loading is caught; hashes come from the rows, so an edit is
    caught. ``since``: only the files a run loaded after that mark (their rows read by the
    load-number index); a full recount otherwise, which closes the feed's noted row changes
    when it finds every row as it was landed. What is found is kept in
    ``raw._integrity_breaks`` for the report (check ``raw_intact``).
    """
    scope = "" if since is None else f"where _load_seq > {since.load_seq}"
    files = "" if since is None else f"and m.file_id > {since.file_id}"
    with conn.cursor() as cur:
        cur.execute(
            f"""
            with landed as (
                select _file_sha256, count(*) as n from {feed.table} {scope} group by 1
            ),
            quarantined as (
                select file_sha256, count(*) as n from raw._quarantine
                where feed = %(feed)s or (feed is null and source = %(source)s)
                group by 1
            )
            select m.file_name, m.records_in_file, coalesce(l.n, 0), coalesce(q.n, 0),
                   m.records_duplicate
            from raw._manifest as m
            left join landed as l on l._file_sha256 = m.file_sha256
            left join quarantined as q on q.file_sha256 = m.file_sha256
            where m.status in (%(loaded)s, %(rejected)s) {files}
              and (m.feed = %(feed)s or (m.feed is null and m.source = %(source)s))
              and m.records_in_file <> coalesce(l.n, 0) + coalesce(q.n, 0) + m.records_duplicate
            """,
            {"feed": feed.name, "source": feed.source, "loaded": STATUS_LOADED,
             "rejected": STATUS_REJECTED},
        )
        breaks = [
            {"kind": "rows_missing", "file_name": r[0], "records_in_file": r[1],
             "landed": r[2], "quarantined": r[3], "duplicates": r[4]}
            for r in cur.fetchall()
        ]
        if since is None:
            cur.execute(
                f"select _file_name, _line_no from {feed.table} "
                f"where {content_hash_sql(feed)} <> coalesce(_rewritten_hash, _record_hash) "
                "order by _file_name, _line_no")
            breaks += [{"kind": "row_edited", "file_name": name, "line_no": line}
                       for name, line in cur.fetchall()]
            cur.execute("delete from raw._integrity_breaks where feed = %s", (feed.name,))
        elif breaks:
            cur.execute("delete from raw._integrity_breaks where feed = %s and file_name = "
                        "any(%s)", (feed.name, [b["file_name"] for b in breaks]))
        for found in breaks:
            cur.execute("insert into raw._integrity_breaks (feed, source, file_name, line_no, "
                        "kind, detail) values (%s, %s, %s, %s, %s, %s)",
                        (feed.name, feed.source, found["file_name"], found.get("line_no"),
                         found["kind"], _integrity_detail(feed, found)))
        if since is None and not breaks:
            # closed only by a clean recount: while rows are missing, every run recounts
            cur.execute("update raw._row_changes set recounted_at = now() "
                        "where feed = %s and recounted_at is null", (feed.name,))
    conn.commit()
    return breaks


def _integrity_detail(feed: Feed, found: dict) -> str:
    if found["kind"] == "row_edited":
        return (f"the row of line {found['line_no']} in {feed.table} no longer matches the "
                "record delivered (edited after landing): the marts are rebuilt from raw as "
                "it is now")
    missing = (found["records_in_file"] - found["landed"] - found["quarantined"]
               - found["duplicates"])
    return (f"{missing:,} record(s) missing from {feed.table}: in file "
            f"{found['records_in_file']:,} = landed {found['landed']:,} + quarantined "
            f"{found['quarantined']:,} + duplicates {found['duplicates']:,} no longer holds "
            "(rows deleted after landing)")


def load_all(conn, landing: Path, progress: Callable[[str], None] | None = None,
             rehash: bool = False) -> list[SourceResult]:
    return [load_source(conn, landing, source, progress, rehash=rehash) for source in SOURCES]
