"""The raw schema: one table per feed (as delivered, with file, line, record hash and load
number), the manifest of files, the quarantine, and the triggers and tables that note
any change made to raw after loading."""

from __future__ import annotations

import psycopg2.extensions

from tallyhouse.sources import FEEDS, Feed


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
        # the new-files sensor asks, every few seconds, which of landing/'s files are known
        "create index if not exists _manifest_file_name_idx on raw._manifest (file_name)",
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
        # the record hashes a file landed, as one digest: a row replaced with another record
        # (and a recomputed hash) no longer adds up to it
        "alter table raw._manifest add column if not exists records_digest text",
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
        # a feed's table gone while the manifest says files landed in it (dropped by hand):
        # created again below, and noted as a change, so its files are recounted in full
        cur.execute("select to_regclass('raw._manifest') is not null")
        dropped = []
        if cur.fetchone()[0]:
            cur.execute("select distinct feed from raw._manifest where status = 'loaded' "
                        "and records_landed > 0 and feed is not null")
            landed = {row[0] for row in cur.fetchall()}
            for feed in FEEDS:
                if feed.name in landed:
                    cur.execute("select to_regclass(%s) is null", (feed.table,))
                    if cur.fetchone()[0]:
                        dropped.append(feed.name)
        for statement in ddl_statements():
            cur.execute(statement)
        for name in dropped:
            cur.execute("insert into raw._row_changes (feed, kind) values (%s, 'drop')",
                        (name,))
    conn.commit()
