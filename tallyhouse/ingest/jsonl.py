"""JSON-lines feeds: each file streamed with COPY into a stage whose column is ``json``, so
PostgreSQL validates each record once; a file with a record that is not JSON is loaded
again on the careful path, where each record is checked on its own."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from tallyhouse.ingest.files import (
    COPY_CHUNK_LINES,
    COPY_READ_SIZE,
    QUARANTINE_TEXT_LIMIT,
    Delivered,
    IterStream,
    Oversized,
    copy_escape,
    kept_text,
    line_problem,
)
from tallyhouse.ingest.manifest import (
    STATUS_LOADED,
    FileResult,
    Quarantined,
    database_unavailable,
    insert_quarantine,
    landed_digest,
    lock_and_number,
    record_manifest,
)
from tallyhouse.sources import Feed, Source

log = logging.getLogger(__name__)


def load_jsonl(conn, source: Source, feed: Feed, path: Path, rel: str, sha: str, size: int,
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
        if database_unavailable(conn, exc):
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
    bad: list[Quarantined] = []
    counts = {"records": 0, "staged": 0}

    def stage_rows(handle) -> Iterator[bytes]:
        batch: list[bytes] = []
        for line_no, raw_line in enumerate(handle, start=1):
            if isinstance(raw_line, Oversized):
                counts["records"] += 1
                bad.append(Quarantined(line_no, raw_line.reason(handle.limits),
                                        kept_text(raw_line.head)))
                continue
            body = raw_line.rstrip(b"\r\n")
            if not body.strip():
                continue
            counts["records"] += 1
            problem = line_problem(body)
            if problem:
                bad.append(Quarantined(line_no, problem, kept_text(body)))
                continue
            digest = hashlib.sha256(body).hexdigest().encode()
            flags = b"t" if b"\\u" in body else b"f"
            if careful:
                # Only the last line of a file can lack its newline.
                flags += b"\tf" if raw_line.endswith(b"\n") else b"\tt"
            batch.append(b"%d\t\\\\x%s\t%s\t%s\n" % (line_no, digest, copy_escape(body),
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
    with conn.cursor() as cur, Delivered(path) as handle:
        cur.execute(f"create temp table _stage ({stage}) on commit drop")
        stream = IterStream(stage_rows(handle))
        cur.copy_expert("copy _stage from stdin", stream, COPY_READ_SIZE)
        if stream.failure is not None:
            raise stream.failure
        handle.verify(sha)  # the bytes staged are the file the manifest will describe
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
        seq = lock_and_number(cur)
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
        digest = landed_digest(cur, feed, seq)
    insert_quarantine(conn, source, feed, rel, sha, bad)
    result = FileResult(
        source.name, feed.name, rel, STATUS_LOADED, records_digest=digest,
        records_in_file=counts["records"],
        landed=landed, quarantined=len(bad) + len(rejected),
        duplicates=counts["staged"] - len(rejected) - landed,
    )
    return record_manifest(conn, result, sha, size, started)
