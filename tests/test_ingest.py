"""Loading landing files into raw: idempotent, nothing lost, bad input quarantined."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tallyhouse import ingest
from tallyhouse.sources import FEEDS, SOURCES, source_by_name

from conftest import _scratch_database, build, query, snapshot_marts, truth


def load(conn, landing: Path) -> list[ingest.SourceResult]:
    return ingest.load_all(conn, landing)


def table_counts(conn) -> dict[str, int]:
    return {feed.name: query(conn, f"select count(*) from {feed.table}")[0][0] for feed in FEEDS}


def snapshot(conn) -> tuple:
    """Everything a load could change: row counts, content digests, quarantine."""
    digests = {
        feed.name: query(conn, f"select md5(string_agg(_record_hash::text, ',' "
                               f"order by _record_hash)) from {feed.table}")[0][0]
        for feed in FEEDS
    }
    quarantine = query(conn, "select count(*) from raw._quarantine")[0][0]
    return table_counts(conn), digests, quarantine


def test_landed_rows_equal_the_distinct_records_generated(conn, small_landing):
    load(conn, small_landing)
    expected = truth(small_landing)["records"]
    assert table_counts(conn) == {feed.name: expected.get(feed.name, 0) for feed in FEEDS}
    assert query(conn, "select count(*) from raw._quarantine")[0][0] == 0
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []
    duplicates = query(conn, "select sum(records_duplicate) from raw._manifest")[0][0]
    assert duplicates > 0, "overlapping daily files and redeliveries are skipped, and counted"


def test_loading_twice_changes_nothing(conn, small_landing):
    load(conn, small_landing)
    before = snapshot(conn)
    manifest_rows = query(conn, "select count(*) from raw._manifest")[0][0]
    results = load(conn, small_landing)
    assert all(f.skipped for r in results for f in r.files)
    assert snapshot(conn) == before
    assert query(conn, "select count(*) from raw._manifest")[0][0] == manifest_rows


def test_a_renamed_copy_changes_nothing(conn, landing_copy):
    load(conn, landing_copy)
    before = snapshot(conn)
    original = sorted((landing_copy / "hotmart").glob("*.jsonl"))[3]
    shutil.copy(original, original.with_name("hotmart_webhooks_resent-copy.jsonl"))
    load(conn, landing_copy)
    assert snapshot(conn) == before
    status, dup_of = query(conn, "select status, duplicate_of_file_id from raw._manifest "
                                 "where file_name like '%%resent-copy%%'")[0]
    assert status == ingest.STATUS_DUPLICATE_FILE and dup_of is not None


def test_a_changed_file_is_flagged_not_merged(conn, landing_copy):
    load(conn, landing_copy)
    before = snapshot(conn)
    target = sorted((landing_copy / "kiwify").glob("*.jsonl"))[2]
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[1:]))  # a line removed: other content, same name
    load(conn, landing_copy)
    assert snapshot(conn) == before
    rows = query(conn, "select status, note from raw._manifest where file_name = %s",
                 (target.relative_to(landing_copy).as_posix(),))
    assert [r[0] for r in rows] == [ingest.STATUS_LOADED, ingest.STATUS_CHANGED]
    assert "content changed" in rows[1][1]


BAD_JSONL = (
    b'{"id":"ok-1","event":"PURCHASE_APPROVED","data":{}}\n'
    b'{"id":"broken","event":\n'
    b'"just a string"\n'
    b'{"id":"latin","name":"Jo\xe3o"}\n'
    b'{"id":"nul","x":"a\x00b"}\n'
    b'\n'
    b'{"id":"ok-1","event":"PURCHASE_APPROVED","data":{}}\n'
    b'{"id":"ok-2","event":"PURCHASE_APPROVED","data":{"tab":"a\\tb \\\\ c"}}\r\n'
    b'{"id":"cut","event":"PURCH'
)


def test_each_kind_of_bad_input_is_quarantined_with_its_reason(conn, tmp_path):
    (tmp_path / "hotmart").mkdir()
    (tmp_path / "hotmart" / "hotmart_webhooks_bad.jsonl").write_bytes(BAD_JSONL)
    (tmp_path / "loyalty").mkdir()
    header = ",".join(source_by_name("loyalty").feeds[0].columns)
    (tmp_path / "loyalty" / "loyalty_entries_bad.csv").write_text(
        header + "\n"
        "e1,LA-1,credit,100,,,,,,2026-05-01T00:00:00Z\n"
        "e2,LA-1,credit\n"
        '"e3","LA-1","credit","5,000",,,,,,"2026-05-02T00:00:00Z"\n'
    )
    (tmp_path / "loyalty" / "loyalty_entries_wrong_header.csv").write_text("a,b\n1,2\n")
    (tmp_path / "payouts").mkdir()
    (tmp_path / "payouts" / "statement.xlsx").write_bytes(b"PK\x03\x04")
    load(conn, tmp_path)

    reasons = query(conn, "select file_name, line_no, reason from raw._quarantine "
                          "order by file_name, line_no")
    by_line = {(f.rsplit("/", 1)[-1], line): reason for f, line, reason in reasons}
    bad = "hotmart_webhooks_bad.jsonl"
    assert by_line[(bad, 2)].startswith("malformed JSON")
    assert by_line[(bad, 3)] == "JSON is string, not an object as hotmart_webhooks delivers"
    assert by_line[(bad, 4)].startswith("invalid UTF-8 encoding")
    assert by_line[(bad, 5)] == "NUL byte in record"
    assert by_line[(bad, 9)].startswith("truncated last line")
    assert by_line[("loyalty_entries_bad.csv", 3)] == "expected 10 columns, got 3"
    assert by_line[("loyalty_entries_wrong_header.csv", None)].startswith(
        "CSV header does not match")
    assert by_line[("statement.xlsx", None)].startswith("file name matches no feed")
    raw_text = query(conn, "select raw_text from raw._quarantine where line_no = 4")[0][0]
    assert raw_text == '{"id":"latin","name":"Jo\\xe3o"}', "bad bytes kept, escaped"

    landed = query(conn, "select payload->>'id', payload from raw.hotmart_webhooks "
                         "order by _line_no")
    assert [row[0] for row in landed] == ["ok-1", "ok-2"]
    assert landed[1][1]["data"]["tab"] == "a\tb \\ c"
    assert query(conn, "select points from raw.loyalty_entries order by _line_no") == [
        ("100",), ("5,000",)]

    manifest = {row[0].rsplit("/", 1)[-1]: row[1:] for row in query(
        conn, "select file_name, status, records_in_file, records_landed, "
              "records_quarantined, records_duplicate from raw._manifest")}
    # 8 records (the blank line is not one): 2 landed + 5 quarantined + 1 duplicate
    assert manifest[bad] == (ingest.STATUS_LOADED, 8, 2, 5, 1)
    assert manifest["loyalty_entries_bad.csv"] == (ingest.STATUS_LOADED, 3, 2, 1, 0)
    assert manifest["statement.xlsx"][0] == ingest.STATUS_REJECTED
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []


def test_the_count_identity_catches_a_lost_row(conn, small_landing):
    load(conn, small_landing)
    feed = source_by_name("kiwify").feeds[0]
    assert ingest.count_identity_breaks(conn, feed) == []
    victim = query(conn, "select _file_name from raw.kiwify_webhooks limit 1")[0][0]
    query(conn, "delete from raw.kiwify_webhooks where ctid in "
                "(select ctid from raw.kiwify_webhooks where _file_name = %s limit 1)", (victim,))
    breaks = ingest.count_identity_breaks(conn, feed)
    assert [b["file_name"] for b in breaks] == [victim]
    assert breaks[0]["records_in_file"] == breaks[0]["landed"] + breaks[0]["quarantined"] + \
        breaks[0]["duplicates"] + 1


def test_a_missing_source_folder_is_an_empty_source(conn, tmp_path):
    results = load(conn, tmp_path)
    assert [r.source for r in results] == [s.name for s in SOURCES]
    assert all(not r.files for r in results)
    assert sum(table_counts(conn).values()) == 0


def test_generated_quarantine_anomalies_are_all_caught(conn, anomalies_landing):
    load(conn, anomalies_landing)
    listed = json.loads((anomalies_landing / "_anomalies.json").read_text())["anomalies"]
    expected = {(a["entity"]["file"], a["entity"]["line"])
                for a in listed if a["check"] == "quarantined_records"}
    found = set(query(conn, "select file_name, line_no from raw._quarantine"))
    assert found == expected
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []


def test_csv_feeds_keep_every_column_as_text(conn, small_landing):
    load(conn, small_landing)
    for feed in (f for f in FEEDS if f.fmt == "csv"):
        columns = query(conn, "select column_name, data_type from information_schema.columns "
                              "where table_schema = 'raw' and table_name = %s "
                              "and column_name not like '\\_%%'", (feed.name,))
        assert {name for name, _ in columns} == set(feed.columns), feed.name
        assert {kind for _, kind in columns} == {"text"}, feed.name


def test_a_record_only_postgresql_rejects_is_quarantined_too(conn, tmp_path):
    # Valid JSON, but jsonb (used from staging on) cannot store \u0000.
    (tmp_path / "hotmart").mkdir()
    (tmp_path / "hotmart" / "hotmart_webhooks_nul.jsonl").write_bytes(
        b'{"id":"fine"}\n{"id":"nul-escape","x":"a\\u0000b"}\n{"id":"also-fine"}\n')
    load(conn, tmp_path)
    assert [r[0] for r in query(conn, "select payload->>'id' from raw.hotmart_webhooks "
                                      "order by _line_no")] == ["fine", "also-fine"]
    (line, reason), = query(conn, "select line_no, reason from raw._quarantine")
    assert line == 2 and reason.startswith("JSON that jsonb cannot hold") \
        and "Unicode escape" in reason


def test_gzip_extracts_give_the_same_marts_as_the_plain_files(pg_server, clean_build,
                                                              small_landing, tmp_path):
    import shutil

    from tallyhouse.generator.engine import compress_extracts


    compressed = tmp_path / "gz"
    shutil.copytree(small_landing, compressed)
    assert compress_extracts(compressed) > 50
    assert not [p for p in compressed.glob("*/*") if not p.name.endswith(".gz")]
    with _scratch_database(pg_server, "gz") as url:
        build(url, compressed)
        landed = query(url, "select count(*), sum(records_landed) from raw._manifest "
                            "where file_name like %s and status = 'loaded'", ("%.gz",))[0]
        plain = query(clean_build[0], "select count(*), sum(records_landed) from raw._manifest "
                                      "where status = 'loaded'")[0]
        assert landed == plain
        compressed_marts, plain_marts = snapshot_marts(url), snapshot_marts(clean_build[0])
        # the points ledger names each entry's source file: <name>.csv.gz here
        assert compressed_marts.pop("fct_points_ledger") != plain_marts.pop("fct_points_ledger")
        assert compressed_marts == plain_marts
        lineage = ("select md5(string_agg(md5(l::text), ',' order by md5(l::text))) from ("
                   "select entry_key, balance_effect, hold_effect, occurred_at, source_line, "
                   "replace(source_file, '.gz', '') from marts.fct_points_ledger) as l")
        assert query(url, lineage) == query(clean_build[0], lineage)


def test_a_damaged_gzip_is_rejected_whole_and_the_rest_loads(conn, tmp_path):
    import gzip

    folder = tmp_path / "landing" / "hotmart"
    folder.mkdir(parents=True)
    good = b'{"id": "gz-1", "event": "PURCHASE_APPROVED"}\n'
    (folder / "hotmart_webhooks_good.jsonl.gz").write_bytes(gzip.compress(good))
    (folder / "hotmart_webhooks_cut.jsonl.gz").write_bytes(gzip.compress(good * 50)[:40])
    (folder / "hotmart_webhooks_not.jsonl.gz").write_bytes(good)
    ingest.load_all(conn, tmp_path / "landing")
    rows = dict(query(conn, "select file_name, status from raw._manifest"))
    assert rows == {"hotmart/hotmart_webhooks_good.jsonl.gz": "loaded",
                    "hotmart/hotmart_webhooks_cut.jsonl.gz": "rejected",
                    "hotmart/hotmart_webhooks_not.jsonl.gz": "rejected"}
    reasons = [r for (r,) in query(conn, "select reason from raw._quarantine")]
    assert all(r.startswith("the file cannot be read to its end") for r in reasons), reasons
    assert query(conn, "select count(*) from raw.hotmart_webhooks")[0][0] == 1


def test_a_known_file_is_not_hashed_again_unless_asked(conn, landing_copy, monkeypatch):
    ingest.load_all(conn, landing_copy)
    from tallyhouse.ingest import loading

    hashed = []
    real = loading.file_sha256
    monkeypatch.setattr(loading, "file_sha256", lambda p: hashed.append(p) or real(p))
    ingest.load_all(conn, landing_copy)
    assert hashed == [], "name, size and modification time match: not read again"
    some = sorted((landing_copy / "pix").glob("pix_orders_*.jsonl"))[0]
    some.write_bytes(some.read_bytes() + b'{"orderId": "late-1"}\n')
    ingest.load_all(conn, landing_copy)
    assert hashed == [some], "a changed file is hashed"
    hashed.clear()
    ingest.load_all(conn, landing_copy, rehash=True)
    assert len(hashed) > 50, "--rehash hashes every file"
    rows = query(conn, "select status from raw._manifest where file_name = %s order by file_id",
                 (some.relative_to(landing_copy).as_posix(),))
    # a file that only grew (an export still being appended to) is loaded again: its new
    # line lands, the lines already landed are the same records and land nothing
    assert [s for (s,) in rows] == ["loaded", "loaded"]
    assert query(conn, "select count(*) from raw.pix_orders where payload::text like %s",
                 ("%late-1%",)) == [(1,)]


def _gzip_of_one_long_line(path: Path, size: int, chunk: int = 1 << 20) -> None:
    """A .jsonl.gz that expands to one line of ``size`` bytes, written without holding it."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    with path.open("wb") as out:
        out.write(packer.compress(b'{"id": "bomb", "pad": "'))
        block = b"a" * chunk
        for _ in range(size // chunk):
            out.write(packer.compress(block))
        out.write(packer.compress(b'"}\n'))
        out.write(packer.flush())


def test_a_file_that_expands_to_one_huge_line_is_rejected_once(conn, tmp_path):
    # what stopped every run: ~1 MB compressed, one line of 1 GiB once expanded
    folder = tmp_path / "landing" / "hotmart"
    folder.mkdir(parents=True)
    bomb = folder / "hotmart_webhooks_bomb.jsonl.gz"
    _gzip_of_one_long_line(bomb, 1 << 30)
    assert bomb.stat().st_size < 2 << 20
    (folder / "hotmart_webhooks_fine.jsonl").write_bytes(b'{"id": "fine-1"}\n')
    ingest.load_all(conn, tmp_path / "landing")
    rows = dict(query(conn, "select file_name, status from raw._manifest"))
    assert rows == {"hotmart/hotmart_webhooks_bomb.jsonl.gz": "rejected",
                    "hotmart/hotmart_webhooks_fine.jsonl": "loaded"}
    (reason,), = query(conn, "select reason from raw._quarantine")
    assert "decompression bomb" in reason and "TALLYHOUSE_MAX_EXPANSION_RATIO" in reason
    # recorded once: later loads neither retry it nor add a second row
    before = snapshot(conn)
    ingest.load_all(conn, tmp_path / "landing", rehash=True)
    assert snapshot(conn) == before
    assert query(conn, "select count(*) from raw._manifest")[0][0] == 2
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []


def test_an_over_long_record_is_quarantined_and_the_rest_of_its_file_lands(conn, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("TALLYHOUSE_MAX_RECORD_BYTES", "1000")
    (tmp_path / "hotmart").mkdir()
    long_line = b'{"id": "long", "pad": "' + b"x" * 5000 + b'"}\n'
    (tmp_path / "hotmart" / "hotmart_webhooks_long.jsonl").write_bytes(
        b'{"id": "ok-1"}\n' + long_line + b'{"id": "ok-2"}\n')
    # the limit holds for CSV lines too, beside a line that is not UTF-8
    (tmp_path / "loyalty").mkdir()
    header = ",".join(source_by_name("loyalty").feeds[0].columns)
    (tmp_path / "loyalty" / "loyalty_entries_long.csv").write_bytes(
        header.encode() + b"\n" + b"e1,LA-1,credit,100,,,,,,2026-05-01T00:00:00Z\n"
        + b"e2,LA-1,credit,100,,,,,," + b"9" * 3000 + b"\n"
        + b"e3,LA-1,cr\xe9dit,100,,,,,,2026-05-01T00:00:00Z\n"
        + b"e4,LA-1,credit,7,,,,,,2026-05-02T00:00:00Z\n")
    load(conn, tmp_path)
    assert [r[0] for r in query(conn, "select payload->>'id' from raw.hotmart_webhooks "
                                      "order by _line_no")] == ["ok-1", "ok-2"]
    assert [r[0] for r in query(conn, "select entry_id from raw.loyalty_entries "
                                      "order by _line_no")] == ["e1", "e4"]
    found = {(f.rsplit("/", 1)[-1], line): (reason, text) for f, line, reason, text in query(
        conn, "select file_name, line_no, reason, raw_text from raw._quarantine")}
    reason, text = found[("hotmart_webhooks_long.jsonl", 2)]
    assert reason.startswith(f"record of {len(long_line):,} bytes exceeds the limit of 1,000")
    assert text.startswith('{"id": "long"')
    assert found[("loyalty_entries_long.csv", 3)][0].startswith("record of")
    assert found[("loyalty_entries_long.csv", 4)][0].startswith("invalid UTF-8")
    manifest = {row[0].rsplit("/", 1)[-1]: row[1:] for row in query(
        conn, "select file_name, records_in_file, records_landed, records_quarantined "
              "from raw._manifest")}
    assert manifest["hotmart_webhooks_long.jsonl"] == (3, 2, 1)
    assert manifest["loyalty_entries_long.csv"] == (4, 2, 2)
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []


def test_a_record_the_database_cannot_parse_rejects_its_file_not_the_run(conn, tmp_path):
    # nested deeper than PostgreSQL's JSON parser's stack allows: not a data error, a limit
    (tmp_path / "hotmart").mkdir()
    deep = b'{"id": "deep", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n"
    (tmp_path / "hotmart" / "hotmart_webhooks_deep.jsonl").write_bytes(b'{"id": "a"}\n' + deep)
    (tmp_path / "hotmart" / "hotmart_webhooks_next.jsonl").write_bytes(b'{"id": "b"}\n')
    load(conn, tmp_path)
    rows = dict(query(conn, "select file_name, status from raw._manifest"))
    assert rows["hotmart/hotmart_webhooks_deep.jsonl"] == "rejected"
    assert rows["hotmart/hotmart_webhooks_next.jsonl"] == "loaded"
    (reason,), = query(conn, "select reason from raw._quarantine")
    assert reason.startswith("the database refused the file (54001)"), reason
    before = snapshot(conn)
    load(conn, tmp_path)
    assert snapshot(conn) == before


def test_paths_that_are_not_files_are_refused_once_and_never_read(conn, tmp_path):
    import os

    landing = tmp_path / "landing"
    folder = landing / "hotmart"
    folder.mkdir(parents=True)
    (folder / "hotmart_webhooks_fine.jsonl").write_bytes(b'{"id": "fine"}\n')
    # a link to a folder (the source folder itself), a FIFO, a device through a link
    (folder / "hotmart_webhooks_dirlink.jsonl").symlink_to(folder)
    os.mkfifo(folder / "hotmart_webhooks_pipe.jsonl")
    os.mkfifo(folder / ".pipe")
    (folder / "hotmart_webhooks_piped.jsonl").symlink_to(folder / ".pipe")
    (folder / "hotmart_webhooks_zero.jsonl").symlink_to("/dev/zero")
    ingest.load_all(conn, landing)  # returns: nothing was opened
    rows = dict(query(conn, "select file_name, status from raw._manifest"))
    assert rows == {"hotmart/hotmart_webhooks_fine.jsonl": "loaded",
                    "hotmart/hotmart_webhooks_dirlink.jsonl": "rejected",
                    "hotmart/hotmart_webhooks_pipe.jsonl": "rejected",
                    "hotmart/hotmart_webhooks_piped.jsonl": "rejected",
                    "hotmart/hotmart_webhooks_zero.jsonl": "rejected"}
    reasons = dict(query(conn, "select file_name, reason from raw._quarantine"))
    assert "a directory" in reasons["hotmart/hotmart_webhooks_dirlink.jsonl"]
    assert "a FIFO" in reasons["hotmart/hotmart_webhooks_pipe.jsonl"]
    assert reasons["hotmart/hotmart_webhooks_zero.jsonl"].startswith("refused, not read:")
    # recorded once: the next loads neither fail nor record them again
    before = snapshot(conn)
    ingest.load_all(conn, landing)
    ingest.load_all(conn, landing, rehash=True)
    assert snapshot(conn) == before
    assert query(conn, "select count(*) from raw._manifest") == [(5,)]


def test_a_file_still_being_written_is_loaded_whole_in_the_end(conn, tmp_path):
    from tallyhouse.ingest.files import Delivered, FileChanged, file_sha256

    folder = tmp_path / "hotmart"
    folder.mkdir()
    path = folder / "hotmart_webhooks_growing.jsonl"
    path.write_bytes(b'{"id": "g-1"}\n{"id": "g-2"}\n{"id": "g-')  # a writer in the middle
    load(conn, tmp_path)
    assert [r[0] for r in query(conn, "select payload->>'id' from raw.hotmart_webhooks "
                                      "order by _line_no")] == ["g-1", "g-2"]
    with path.open("ab") as out:  # the writer goes on
        out.write(b'3"}\n{"id": "g-4"}\n')
    load(conn, tmp_path)
    assert [r[0] for r in query(conn, "select payload->>'id' from raw.hotmart_webhooks "
                                      "order by _load_seq, _line_no")] == [
        "g-1", "g-2", "g-3", "g-4"]
    assert query(conn, "select status, records_in_file, records_landed, records_duplicate "
                       "from raw._manifest order by file_id") == [
        ("loaded", 3, 2, 0), ("loaded", 4, 2, 2)]
    assert query(conn, "select count(*) from raw._manifest where status = 'changed_content'"
                 ) == [(0,)]
    for feed in FEEDS:
        assert ingest.count_identity_breaks(conn, feed) == []
    # bytes that change between the hash and the read are never recorded as that file
    sha = file_sha256(path)
    with Delivered(path) as handle:
        list(handle)
        with path.open("ab") as out:
            out.write(b'{"id": "g-5"}\n')
        with pytest.raises(FileChanged):
            handle.verify(sha)


def test_a_quoted_field_never_turns_into_records(conn, tmp_path, monkeypatch):
    feed = source_by_name("redemptions").feeds[0]
    header = ",".join(feed.columns)
    row = ("RO-{n},C1,Company,LA-1,AM-1,am@example.com,Manager,100,COMPLETED,"
           "2026-05-01T00:00:00Z,2026-05-01T00:00:00Z")
    inside = "\n".join(row.format(n=n) for n in range(3000))
    folder = tmp_path / "redemptions"
    folder.mkdir()
    # one record whose second cell quotes 3 000 lines shaped like records
    (folder / "redemption_orders_quoted.csv").write_text(
        header + "\n" + row.format(n="REAL").replace(",C1,", f',"{inside}",', 1) + "\n")
    # a quote left open: the rest of the file is that one field
    (folder / "redemption_orders_open.csv").write_text(
        header + '\n"RO-OPEN,C1\n' + inside + "\n")
    load(conn, tmp_path)
    assert query(conn, "select order_number from raw.redemption_orders") == [("RO-REAL",)]
    (reason,), = query(conn, "select reason from raw._quarantine")
    assert "a quote left open" in reason
    # a field longer than a record may be: where records end is unknown, the file is refused
    monkeypatch.setenv("TALLYHOUSE_MAX_RECORD_BYTES", "200000")
    many_lines = "\n".join("x" * 99 for _ in range(3000))  # 300 000 characters, short lines
    (folder / "redemption_orders_huge.csv").write_text(
        header + "\n" + row.format(n="HUGE").replace(",C1,", f',"{many_lines}",', 1)
        + "\n" + row.format(n="AFTER") + "\n")
    load(conn, tmp_path)
    assert query(conn, "select status from raw._manifest where file_name like %s",
                 ("%huge%",)) == [("rejected",)]
    assert query(conn, "select count(*) from raw.redemption_orders") == [(1,)]


def test_a_dropped_raw_table_and_a_rehashed_row_are_found_by_the_recount(conn,
                                                                         small_landing):
    load(conn, small_landing)
    kiwify = source_by_name("kiwify").feeds[0]
    pix = source_by_name("pix").feeds[0]
    # a row edited and its hash recomputed to match: the file's digest no longer holds
    victim = query(conn, f"update {pix.table} set payload = regexp_replace(payload::text, "
                         "'^\\{', '{ ')::json where ctid = (select min(ctid) from "
                         f"{pix.table}) returning _file_name")[0][0]
    query(conn, f"update {pix.table} set _record_hash = {ingest.content_hash_sql(pix)} "
                "where _file_name = %s", (victim,))
    conn.commit()
    assert ingest.rows_changed_since_recount(conn, pix)
    found = ingest.count_identity_breaks(conn, pix)
    assert [(b["kind"], b["file_name"]) for b in found] == [("rows_replaced", victim)]
    # a feed's table dropped by hand: noticed when the schema is made again
    query(conn, f"drop table {kiwify.table}")
    conn.commit()
    ingest.ensure_raw_schema(conn)
    assert ingest.rows_changed_since_recount(conn, kiwify)
    missing = ingest.count_identity_breaks(conn, kiwify)
    assert missing and {b["kind"] for b in missing} == {"rows_missing"}
