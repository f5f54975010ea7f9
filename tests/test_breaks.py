"""Breaks a hostile tester found passing silently: each is now caught, with its amount or
record count, and a clean case stays silent."""

from __future__ import annotations

import psycopg2

from conftest import build, query
from tallyhouse import ingest
from tallyhouse.reconciliation.runner import run_checks


def _breaks(url: str, check: str) -> list[dict]:
    [outcome] = [o for o in run_checks(url) if o.check.name == check]
    assert outcome.error is None, outcome.error
    return outcome.breaks


def test_a_file_changed_under_a_loaded_name_is_a_break_with_its_record_count(
        database_url, landing_copy):
    build(database_url, landing_copy)
    assert _breaks(database_url, "files_reconcile") == []
    target = sorted((landing_copy / "kiwify").glob("*.jsonl"))[3]
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:-1]))  # one record fewer: other content, same name
    build(database_url, landing_copy)
    [found] = _breaks(database_url, "files_reconcile")
    assert found["break_kind"] == "changed_file"
    assert found["entity_id"] == f"kiwify/{target.name}"
    assert found["actual"] == len(lines) - 1
    assert "not loaded" in found["detail"]


def test_empty_files_in_two_sources_are_no_false_alarm(database_url, tmp_path):
    for source, name in (("hotmart", "hotmart_webhooks_empty.jsonl"),
                         ("kiwify", "kiwify_webhooks_empty.jsonl"),
                         ("loyalty", "loyalty_entries_empty.csv")):
        (tmp_path / source).mkdir()
        (tmp_path / source / name).write_bytes(b"")
    build(database_url, tmp_path)
    assert query(database_url, "select count(*) from raw._manifest")[0][0] == 3
    assert _breaks(database_url, "files_reconcile") == []


def test_a_payout_line_re_exported_with_other_formatting_counts_once(database_url,
                                                                     landing_copy):
    build(database_url, landing_copy)
    before = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    source = sorted((landing_copy / "payouts").glob("*.csv"))[0]
    header, first = source.read_text().splitlines()[:2]
    cells = first.split(",")
    cells[-1] = cells[-1] + "0"  # 23.28 -> 23.280: the same amount, other bytes
    (landing_copy / "payouts" / "payout_lines_reexport.csv").write_text(
        header + "\n" + ",".join(cells) + "\n")
    build(database_url, landing_copy)
    after = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    assert after == before
    assert _breaks(database_url, "paid_out_twice") == []
    listed = query(database_url, "select source_file, reason from marts.rpt_data_issues "
                                 "where feed = 'payout_lines'")
    assert len(listed) == 1 and listed[0][1].startswith("superseded")
    # a re-export whose amount really differs is listed as a conflict
    cells[-1] = "999.99"
    (landing_copy / "payouts" / "payout_lines_conflict.csv").write_text(
        header + "\n" + ",".join(cells) + "\n")
    build(database_url, landing_copy)
    reasons = [r for (r,) in query(database_url, "select reason from marts.rpt_data_issues "
                                                 "where feed = 'payout_lines'")]
    assert any("conflict" in r for r in reasons), reasons


def test_loads_are_numbered_in_commit_order(database_url, small_landing):
    from tallyhouse.sources import source_by_name

    conn = psycopg2.connect(database_url)
    try:
        ingest.ensure_raw_schema(conn)
        for path in sorted((small_landing / "hotmart").glob("*.jsonl"))[:3]:
            ingest.load_file(conn, small_landing, source_by_name("hotmart"), path)
        numbers = [n for (n,) in query(conn, "select distinct _load_seq from "
                                             "raw.hotmart_webhooks order by 1")]
        files = [f for (f,) in query(conn, "select _file_name from raw.hotmart_webhooks "
                                           "group by 1 order by min(_load_seq)")]
    finally:
        conn.close()
    assert len(numbers) == 3
    assert files == sorted(files)
