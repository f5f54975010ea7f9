"""Nothing a crash leaves behind can silence the books: a build killed in the middle is
rebuilt by the next run before anything is carried over; raw rows deleted or edited by hand
are findings in the report, breaks.csv and rpt_reconciliation_breaks, and the marts are
rebuilt from raw as it is; a file that cannot be loaded is set aside once and the run goes
on; an erasure killed half-way is finished by the next run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tallyhouse import build_state

from conftest import query, snapshot_marts

ROOT = Path(__file__).resolve().parents[1]


def _env(url: str, home: Path) -> dict[str, str]:
    return {**os.environ, "TALLYHOUSE_DATABASE_URL": url, "TALLYHOUSE_HOME": str(home)}


def _cli(url: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", *args], cwd=ROOT,
                          env=_env(url, home), capture_output=True, text=True, timeout=900)
    return done


def _start(url: str, home: Path, *args: str) -> subprocess.Popen:
    """A command in a session of its own, so that kill -9 reaches dbt's process too."""
    return subprocess.Popen([sys.executable, "-m", "tallyhouse_cli", *args], cwd=ROOT,
                            env=_env(url, home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_when(process: subprocess.Popen, ready, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "ended before it could be killed"
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            return
        time.sleep(0.2)
    raise AssertionError("never reached the point to kill it at")


def _building(url: str) -> bool:
    rows = query(url, "select to_regclass('raw._build_state') is not null")
    return bool(rows[0][0]) and query(
        url, "select coalesce(bool_or(in_progress), false) from raw._build_state")[0][0]


def _dbt_relations_in_flux(url: str) -> bool:
    """dbt is replacing a table (its temporary or backup relation exists)."""
    return query(url, "select exists (select from pg_class where relname like "
                      "'%%__dbt_tmp%%' or relname like '%%__dbt_backup%%')")[0][0]


def _books(url: str) -> dict[str, str]:
    return {t: d for t, d in snapshot_marts(url).items()
            if not t.startswith("rpt_reconciliation")}


def _last_summary(url: str) -> list[tuple]:
    return query(url, """
        select check_name, passed, break_count, carried_over_from
        from marts.rpt_reconciliation_summary
        where run_id = (select run_id from marts.rpt_reconciliation_summary
                        order by run_at desc limit 1)
        order by check_name""")


def test_a_full_pass_killed_in_the_middle_is_rebuilt_by_the_next_run(database_url,
                                                                      small_landing, tmp_path):
    home = tmp_path / "home"
    first = _cli(database_url, home, "run", "--landing", str(small_landing))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    books = _books(database_url)

    full_pass = _start(database_url, home, "run", "--full-pass", "--landing",
                       str(small_landing))
    started = time.monotonic()
    _kill_when(full_pass, lambda: _building(database_url) and (
        _dbt_relations_in_flux(database_url) or time.monotonic() - started > 45))
    manifest = ROOT / "target" / "manifest.json"
    left = build_state.readiness(database_url, build_state.current(database_url), manifest)
    assert left.interrupted_at is not None and not left.fresh

    again = _cli(database_url, home, "run", "--landing", str(small_landing))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "did not complete" in again.stdout + again.stderr
    whole = build_state.readiness(database_url, build_state.current(database_url), manifest)
    assert whole.fresh and whole.missing == () and whole.interrupted_at is None
    assert _books(database_url) == books
    # the checks were computed on the rebuilt marts, not carried over
    assert all(carried is None for *_, carried in _last_summary(database_url))
    # and now a run with nothing new may say so
    idle = _cli(database_url, home, "run", "--landing", str(small_landing))
    assert idle.returncode == 0
    assert {carried for *_, carried in _last_summary(database_url)} - {None}


def _gzip_bomb(path: Path, size: int = 1 << 30) -> None:
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        out.write(packer.compress(b'{"id": "bomb", "pad": "'))
        block = b"a" * (1 << 20)
        for _ in range(size >> 20):
            out.write(packer.compress(block))
        out.write(packer.compress(b'"}\n') + packer.flush())


def test_raw_rows_deleted_or_edited_are_findings_and_a_bomb_stops_nothing(database_url,
                                                                           landing_copy,
                                                                           tmp_path):
    home = tmp_path / "home"
    bomb = landing_copy / "hotmart" / "hotmart_webhooks_9999-bomb.jsonl.gz"
    _gzip_bomb(bomb)
    first = _cli(database_url, home, "run", "--landing", str(landing_copy))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    bomb_rows = query(database_url, "select count(*) from raw._manifest where file_name = %s",
                      ("hotmart/" + bomb.name,))
    assert bomb_rows == [(1,)]
    reason = query(database_url, "select detail from marts.rpt_reconciliation_breaks where "
                                 "check_name = 'quarantined_records' and entity_id like %s",
                   (f"%{bomb.name}%",))
    assert reason and "decompression bomb" in reason[0][0]
    clean = {name: passed for name, passed, *_ in _last_summary(database_url)}
    assert clean["raw_intact"] is True

    # by hand, in raw: one row deleted, one amount edited (86.40 -> 8640.00 shape)
    deleted = query(database_url, "delete from raw.kiwify_webhooks where ctid = (select ctid "
                                  "from raw.kiwify_webhooks order by _file_name, _line_no "
                                  "limit 1) returning _file_name, _line_no")[0]
    edited = query(database_url, """
        update raw.hotmart_webhooks set payload = regexp_replace(
            payload::text, '("price":\\s*\\{\\s*"value":\\s*)([0-9.]+)', '\\18640.00')::json
        where ctid = (select ctid from raw.hotmart_webhooks
                      where payload::text ~ '"price":\\s*\\{\\s*"value"'
                        and payload ->> 'event' = 'PURCHASE_APPROVED'
                      order by _file_name, _line_no limit 1)
        returning _file_name, _line_no, payload -> 'data' -> 'purchase' ->> 'transaction'""")[0]

    second = _cli(database_url, home, "run", "--landing", str(landing_copy))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "deleted or edited in raw" in second.stdout + second.stderr  # rebuilt from raw
    found = query(database_url, "select break_kind, entity_id from marts.rpt_reconciliation_"
                                "breaks where check_name = 'raw_intact' and run_id = (select "
                                "run_id from marts.rpt_reconciliation_summary order by run_at "
                                "desc limit 1) order by 1")
    assert ("row_edited", f"{edited[0]}:{edited[1]}") in found
    assert ("rows_missing", deleted[0]) in found
    # the models were rebuilt from raw as it stands: the edited amount is what staging read
    price = query(database_url, "select offer_price from staging.stg_hotmart__purchase_events "
                                "where source_file = %s and source_line = %s", edited[:2])[0][0]
    assert str(price) == "8640.00"
    report = max((home / "reports").rglob("reconciliation.html"), key=lambda p: p.stat().st_mtime)
    page = report.read_text()
    assert "raw_intact" in page and f"{edited[0]}:{edited[1]}" in page
    with (report.parent / "breaks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["entity_id"] for r in rows if r["check_name"] == "raw_intact"} >= {
        f"{edited[0]}:{edited[1]}", deleted[0]}

    # a run with nothing new still reports them (computed, never carried over), and does
    # not rebuild again
    third = _cli(database_url, home, "run", "--landing", str(landing_copy))
    assert third.returncode == 0
    summary = {name: (passed, carried) for name, passed, _, carried in
               _last_summary(database_url)}
    assert summary["raw_intact"] == (False, None)
    assert "deleted or edited in raw" not in third.stdout + third.stderr
    assert query(database_url, "select count(*) from raw._manifest where file_name = %s",
                 ("hotmart/" + bomb.name,)) == [(1,)]


def _occurrences(url: str, needle: str) -> list[str]:
    relations = query(url, "select table_schema, table_name from information_schema.tables "
                           "where table_schema not in ('pg_catalog', 'information_schema') "
                           "order by 1, 2")
    found = []
    for schema, table in relations:
        hits = query(url, f'select count(*) from "{schema}"."{table}" as r '
                          "where r::text ilike %s", (f"%{needle}%",))[0][0]
        if hits:
            found.append(f"{schema}.{table}: {hits}")
    return found


def _files_holding(folder: Path, needle: str) -> list[str]:
    import gzip

    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            if needle.lower().encode() in data.lower():
                found.append(str(path.relative_to(folder)))
    return found


def test_forget_killed_mid_rebuild_is_finished_by_the_next_run(database_url, landing_copy,
                                                              tmp_path):
    import json

    home = tmp_path / "home"
    # the person's e-mail also sits in a malformed person field of another record
    person = next(record for path in sorted((landing_copy / "hotmart").glob("*.jsonl"))
                  for record in map(json.loads, path.read_text().splitlines())
                  if record.get("event") == "PURCHASE_APPROVED"
                  and isinstance((record.get("data") or {}).get("buyer"), dict))
    email = person["data"]["buyer"]["email"]
    malformed = dict(person, id="malformed-buyer-1")
    malformed["data"] = dict(person["data"], buyer=email.upper())
    malformed["data"]["purchase"] = dict(person["data"]["purchase"],
                                         transaction="HP-MALFORMED-BUYER-1")
    (landing_copy / "hotmart" / "hotmart_webhooks_9998-malformed.jsonl").write_text(
        json.dumps(malformed) + "\n")
    first = _cli(database_url, home, "run", "--landing", str(landing_copy))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # no raw value of a person field in a mart, even malformed
    assert not [hit for hit in _occurrences(database_url, email) if hit.startswith("marts.")]
    assert query(database_url, "select count(*) from restricted.person_data_issues where "
                               "raw_value ilike %s", (f"%{email}%",))[0][0] >= 1

    forget = _start(database_url, home, "forget", "--email", email, "--landing",
                    str(landing_copy))
    _kill_when(forget, lambda: query(
        database_url, "select exists (select from restricted.erasures)")[0][0]
        and _building(database_url) and _dbt_relations_in_flux(database_url))
    # killed with the raw rewritten and the rebuild half done: the person is still in
    # staging, and no run may say "nothing new"
    assert _occurrences(database_url, email)
    again = _cli(database_url, home, "run", "--landing", str(landing_copy))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _occurrences(database_url, email) == []
    assert _files_holding(landing_copy, email) == []
    assert _files_holding(home / "reports", email) == []
    audit = query(database_url, "select completed_at is not null, pending is null, "
                                "records_touched::text from restricted.erasures")
    assert len(audit) == 1 and audit[0][:2] == (True, True)
    assert '"raw.hotmart_webhooks"' in audit[0][2]
    # the rewritten landing files are the loaded files, erased: not "changed files"
    assert query(database_url, "select count(*) from raw._manifest "
                               "where status = 'changed_content'") == [(0,)]

    # a second forget of the same person finds nothing and changes nothing
    counts = query(database_url, "select erasures from restricted.erased_subjects")
    twice = _cli(database_url, home, "forget", "--email", email, "--landing",
                 str(landing_copy))
    assert twice.returncode == 0, twice.stdout[-3000:]
    assert "nothing changed" in twice.stdout
    assert query(database_url, "select count(*) from restricted.erasures") == [(1,)]
    assert query(database_url, "select erasures from restricted.erased_subjects") == counts


@pytest.mark.parametrize("text", ["buyer@example.com", "Ana <ana.souza@example.com>"])
def test_an_identifier_in_a_malformed_person_field_is_erased(text):
    from tallyhouse.forget import Eraser, Subject

    email = text.split("<")[-1].rstrip(">")
    eraser = Eraser(Subject({email}, set()), key_of=lambda e: "k" * 32)
    record = {"data": {"buyer": text, "purchase": {"transaction": "HP1", "price": 10}}}
    rewritten = eraser.rewrite(record)
    assert email not in str(rewritten).lower()
    assert rewritten["data"]["purchase"] == record["data"]["purchase"]
    # an e-mail spelled with a JSON escape is found by the text search too
    assert any("\\u0040" in needle for needle in eraser.needles())


def test_forget_leaves_nothing_in_logs_wal_damaged_or_set_aside_files(tmp_path, monkeypatch):
    """On the embedded server: the person is gone from the server's log, from the WAL
    segments, from a truncated .gz the loader rejected and from the receiver's set-aside
    lines; a corrupted .gz elsewhere does not stop the erasure."""
    import gzip
    import json

    from tallyhouse import db, forget, ingest

    monkeypatch.delenv("TALLYHOUSE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TALLYHOUSE_HOME", str(tmp_path))
    email, document = "ana.wal@example.com", "123.456.789-09"
    try:
        url = db.database_url()  # the project's own embedded server, its settings applied
        assert query(url, "show log_error_verbosity") == [("terse",)]
        assert query(url, "show wal_recycle") == [("off",)]
        landing = tmp_path / "landing"
        folder = landing / "hotmart"
        (folder / ".torn").mkdir(parents=True)
        event = {"id": "w-1", "event": "PURCHASE_APPROVED", "creation_date": 1780000000000,
                 "data": {"buyer": {"email": email, "name": "Ana Wal", "document": document},
                          "purchase": {"transaction": "HP-WAL-1", "status": "APPROVED"}}}
        line = json.dumps(event) + "\n"
        (folder / "hotmart_webhooks_1.jsonl").write_text(line + "{not json " + email + "\n")
        (folder / "hotmart_webhooks_cut.jsonl.gz").write_bytes(
            gzip.compress((line.replace("w-1", "w-2") * 200).encode())[:-30])
        (folder / "hotmart_webhooks_bad.jsonl.gz").write_bytes(
            b"\x1f\x8b\x08\x00garbage that is not deflate")
        (folder / ".torn" / "hotmart_webhooks-torn.jsonl").write_text(line[:-40])
        connection = psycopg2_connect(url)
        ingest.load_all(connection, landing)
        connection.close()
        query(url, "create schema if not exists restricted")
        query(url, "create table if not exists restricted.erased_subjects (subject_key text "
                   "primary key, erasures integer not null default 1)")
        query(url, "create table if not exists restricted.erasures (erasure_id bigserial "
                   "primary key, erased_at timestamptz not null default now(), "
                   "identifier_kinds text[] not null, person_keys text[] not null, "
                   "records_touched jsonb not null, record_hashes jsonb not null)")
        # the server's log, as an error's context would have written the record
        server_log = db.pgdata_dir() / "log"  # pg_ctl -l: the server appends to it
        with server_log.open("a") as out:
            out.write(f"CONTEXT: COPY _stage, line 2: {line}")
        wal = db.pgdata_dir() / "pg_wal"

        def wal_holding() -> list[str]:
            return [p.name for p in wal.iterdir() if p.is_file()
                    and email.encode() in p.read_bytes()]

        # commits are asynchronous on the embedded server (synchronous_commit = off): the
        # WAL writer puts the load's records in the segment file within moments
        deadline = time.monotonic() + 10
        while not wal_holding() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert wal_holding(), "the load wrote the person into the WAL"
        done = forget.erase(url, [email], [document], landing=landing)
        assert done.total >= 1 and done.quarantined >= 1 and done.log_files == 1
        assert done.landing_files == 3  # the loaded file, the truncated .gz, the torn line
        forget.finish_pending(url)
        holding = [str(p) for p in tmp_path.rglob("*") if p.is_file() and "pg_wal" not in
                   p.parts and not p.name.startswith("postmaster")
                   and email.encode() in _maybe_gunzip(p)]
        assert holding == []
        assert wal_holding() == []
        # the corrupted file is untouched (it holds no one), and nothing is left to do
        assert (folder / "hotmart_webhooks_bad.jsonl.gz").read_bytes().startswith(b"\x1f\x8b")
        assert forget.erase(url, [email], [document], landing=landing).found is False
    finally:
        db.stop_embedded()


def psycopg2_connect(url: str):
    import psycopg2

    return psycopg2.connect(url)


def _maybe_gunzip(path: Path) -> bytes:
    import gzip
    import zlib

    data = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            decompressor = zlib.decompressobj(31)
            try:
                return decompressor.decompress(data)
            except zlib.error:
                return data
    return data
