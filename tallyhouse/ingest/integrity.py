"""Nothing lost, nothing changed: the count identity of every loaded file and the hash of
every landed row, recounted from the tables themselves (the files a run loads; a whole feed
after a change to its raw table, and on the weekly full pass)."""

from __future__ import annotations

from dataclasses import dataclass

from tallyhouse.ingest.manifest import RECORDS_DIGEST, STATUS_LOADED, STATUS_REJECTED
from tallyhouse.ingest.schema import content_hash_sql
from tallyhouse.sources import Feed


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
            # the records a file landed are still those records (their hashes' digest): a
            # row replaced by another, or an edit whose hash was recomputed to match
            missing_files = {b["file_name"] for b in breaks if b["kind"] == "rows_missing"}
            cur.execute(
                f"""
                with now as (
                    select _file_sha256, {RECORDS_DIGEST} as digest
                    from {feed.table} group by _file_sha256
                )
                select m.file_name
                from raw._manifest as m
                left join now on now._file_sha256 = m.file_sha256
                where m.feed = %s and m.status = %s and m.records_digest is not null
                  and m.records_digest is distinct from now.digest
                order by m.file_name
                """, (feed.name, STATUS_LOADED))
            breaks += [{"kind": "rows_replaced", "file_name": name}
                       for (name,) in cur.fetchall() if name not in missing_files]
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
    if found["kind"] == "rows_replaced":
        return (f"the rows of this file in {feed.table} are not the records it landed (their "
                "hashes no longer add up to the file's digest): replaced or re-hashed after "
                "landing")
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
