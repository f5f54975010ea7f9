"""CSV feeds: every column kept as text, the header checked against the feed's, a row of
the wrong width or a line that is not text quarantined with its line."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path

from tallyhouse.ingest.files import (
    COPY_CHUNK_LINES,
    Delivered,
    FileRejected,
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
    insert_quarantine,
    landed_digest,
    lock_and_number,
    record_manifest,
)
from tallyhouse.sources import Feed, Source


def load_csv(conn, source: Source, feed: Feed, path: Path, rel: str, sha: str, size: int,
              started: float) -> FileResult:
    bad: list[Quarantined] = []
    position = {"line": 0}
    counts = {"unread": 0}  # lines quarantined before the CSV parser sees them
    records = 0

    def decoded_lines(handle) -> Iterator[str]:
        for raw_line in handle:
            position["line"] += 1
            if isinstance(raw_line, Oversized):
                counts["unread"] += 1
                bad.append(Quarantined(position["line"], raw_line.reason(handle.limits),
                                        kept_text(raw_line.head)))
                continue
            body = raw_line.rstrip(b"\r\n")
            problem = line_problem(body)
            if problem:
                counts["unread"] += 1
                bad.append(Quarantined(position["line"], problem, kept_text(body)))
                continue
            yield body.decode("utf-8") + "\n"

    width = len(feed.columns)
    with Delivered(path) as handle:
        # a quoted field may hold line breaks, up to a record's size: the parser never stops
        # in the middle of a field and goes on reading its inside as records
        csv.field_size_limit(handle.limits.record_bytes)
        reader = csv.reader(decoded_lines(handle))
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise FileRejected(f"CSV cannot be parsed: {exc}") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        if tuple(header) != feed.columns:
            raise FileRejected(
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
                # where a record ends is no longer known: reading on would take the inside
                # of a field for records, so the file is rejected whole
                raise FileRejected(
                    f"CSV cannot be parsed from line {start_line} on ({exc}): where its "
                    "records end is not known, rejected whole") from exc
            line_no = start_line
            start_line = position["line"] + 1
            if not row or all(not cell.strip() for cell in row):
                continue
            records += 1
            if len(row) != width:
                spans = start_line - line_no
                where = (f" (one record read over lines {line_no}–{start_line - 1}: a quote "
                         "left open?)" if spans > 1 else "")
                bad.append(Quarantined(
                    line_no, f"expected {width} columns, got {len(row)}{where}",
                    kept_text(",".join(row).encode()),
                ))
                continue
            encoded = [cell.encode("utf-8") for cell in row]
            digest = hashlib.sha256(b"\x1f".join(encoded)).hexdigest().encode()
            rows.append(
                b"%d\t\\\\x%s\t%s\n" % (line_no, digest,
                                       b"\t".join(copy_escape(c) for c in encoded))
            )

        handle.verify(sha)  # what was read is the file the manifest will describe

    with conn.cursor() as cur:
        cols = ", ".join(f"{c} text" for c in feed.columns)
        cur.execute(
            f"create temp table _stage (line_no bigint, record_hash bytea, {cols}) on commit drop"
        )
        cur.copy_expert(
            "copy _stage from stdin",
            IterStream(b"".join(rows[i:i + COPY_CHUNK_LINES])
                        for i in range(0, len(rows), COPY_CHUNK_LINES)),
        )
        collist = ", ".join(feed.columns)
        seq = lock_and_number(cur)
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
        digest = landed_digest(cur, feed, seq)
    insert_quarantine(conn, source, feed, rel, sha, bad)
    result = FileResult(
        source.name, feed.name, rel, STATUS_LOADED, records_digest=digest,
        records_in_file=records + counts["unread"],
        landed=landed, quarantined=len(bad), duplicates=len(rows) - landed,
    )
    return record_manifest(conn, result, sha, size, started)
