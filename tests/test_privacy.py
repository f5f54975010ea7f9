"""Data protection: pseudonymous marts, restricted identifiers, roles, no leaked password,
landing confinement, spreadsheet-safe CSV, dashboards that will not serve the network
without sign-in."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from conftest import REFERENCE, _scratch_database, query

ROOT = Path(__file__).resolve().parents[1]
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CPF = re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b")


def _text_columns(url: str, schema: str) -> list[tuple[str, str]]:
    return query(url, "select table_name, column_name from information_schema.columns "
                      "where table_schema = %s and data_type in ('text', 'character varying') "
                      "order by 1, 2", (schema,))


def test_the_marts_hold_no_identifier_and_the_keys_need_the_secret(clean_build):
    url, _ = clean_build
    people = query(url, "select email, name, document from restricted.customers")
    managers = query(url, "select email, name from restricted.account_managers")
    assert len(people) > 100 and len(managers) > 3
    known = {value for row in people + managers for value in row if value}
    found = []
    for table, column in _text_columns(url, "marts"):
        values = {v for (v,) in query(url, f'select distinct "{column}"::text from '
                                           f'marts."{table}" where "{column}" is not null')}
        hits = [v for v in values if EMAIL.search(v) or CPF.search(v) or v in known]
        if hits:
            found.append((table, column, sorted(hits)[:3]))
    assert found == [], "identifiers in the analysts' marts"

    # the key is a keyed hash: not md5 / sha256 of the e-mail, and another key gives others
    from tallyhouse import pseudonym

    email, key = query(url, "select email, customer_key from restricted.customers limit 1")[0]
    assert key == pseudonym.person_key(email)
    assert key not in (hashlib.md5(email.encode()).hexdigest(),
                       hashlib.sha256(email.encode()).hexdigest()[:32])
    assert key != hashlib.new("sha256", b"another key" + email.encode()).hexdigest()[:32]
    in_marts = query(url, "select count(*) from marts.fct_transactions where customer_key = %s",
                     (key,))[0][0]
    assert in_marts >= 1, "the restricted key is the marts' key"


def _login(url: str, user: str) -> psycopg2.extensions.connection:
    from tallyhouse import db

    parts = db.connection_parts(url)
    return psycopg2.connect(host=parts.host, port=parts.port, dbname=parts.dbname, user=user)


def _can_read(connection, relation: str) -> bool:
    with connection.cursor() as cur:
        try:
            cur.execute(f"select count(*) from {relation}")
            cur.fetchone()
            return True
        except psycopg2.errors.InsufficientPrivilege:
            return False
        finally:
            connection.rollback()


def test_each_role_reads_what_it_should_and_nothing_else(clean_copy):
    from tallyhouse import roles
    from tallyhouse.dbt import run_dbt

    roles.ensure_roles(clean_copy)
    assert roles.ensure_roles(clean_copy), "idempotent"
    suffix = uuid.uuid4().hex[:8]
    analyst, restricted = f"alice_{suffix}", f"rita_{suffix}"
    admin = psycopg2.connect(clean_copy)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"create role {analyst} login in role {roles.ANALYST}")
        cur.execute(f"create role {restricted} login in role {roles.RESTRICTED}")
    try:
        sessions = {name: _login(clean_copy, name)
                    for name in (analyst, restricted, roles.DASHBOARD)}
        for name, session in sessions.items():
            assert _can_read(session, "marts.fct_transactions"), name
            assert not _can_read(session, "raw.hotmart_webhooks"), name
            assert not _can_read(session, "raw._quarantine"), name
            assert not _can_read(session, "staging.stg_hotmart__purchase_events"), name
            assert not _can_read(session, "intermediate.int_transactions"), name
        assert _can_read(sessions[restricted], "restricted.customers")
        assert not _can_read(sessions[analyst], "restricted.customers")
        assert not _can_read(sessions[roles.DASHBOARD], "restricted.customers")
        # read-only by the role's settings; and even a read-write transaction has no right
        with sessions[roles.DASHBOARD].cursor() as cur, pytest.raises(
                psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("delete from marts.dim_customers")
        sessions[roles.DASHBOARD].rollback()
        with sessions[roles.DASHBOARD].cursor() as cur, pytest.raises(
                psycopg2.errors.InsufficientPrivilege):
            cur.execute("set transaction read write")
            cur.execute("delete from marts.dim_customers")
        sessions[roles.DASHBOARD].rollback()

        # dbt replaces tables on every build: the grants follow (default privileges)
        done = run_dbt(["run", "--select", "dim_customers", "customers"], url=clean_copy,
                       capture=True)
        assert done.returncode == 0, done.stdout[-2000:]
        assert _can_read(sessions[analyst], "marts.dim_customers")
        assert _can_read(sessions[restricted], "restricted.customers")
        assert not _can_read(sessions[analyst], "restricted.customers")
        for session in sessions.values():
            session.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop role if exists {analyst}")
            cur.execute(f"drop role if exists {restricted}")
        admin.close()

    # the dashboards connect as the dashboard role
    from tallyhouse import db

    assert db.connection_parts(roles.dashboard_url(clean_copy)).user == roles.DASHBOARD


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tallyhouse_cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=900)


def test_no_password_in_any_output_or_file_the_job_writes(pg_server, small_landing, tmp_path):

    canary = f"Canary-{uuid.uuid4().hex[:10]}"
    home = tmp_path / "home"
    with _scratch_database(pg_server, "pw") as url:
        # the embedded server trusts local connections: the password is carried, not needed
        with_password = url.replace("postgres:@", f"postgres:{canary}@", 1)
        assert canary in with_password
        query_form = url + f"&password={canary}"
        outputs = []
        for form in (with_password, query_form):
            env = {"TALLYHOUSE_DATABASE_URL": form, "TALLYHOUSE_HOME": str(home)}
            outputs.append(_cli("db", "url", env=env))
            outputs.append(_cli("db", "status", env=env))
        env = {"TALLYHOUSE_DATABASE_URL": with_password, "TALLYHOUSE_HOME": str(home)}
        run = _cli("run", "--landing", str(small_landing), env=env)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        outputs.append(run)
        bad = _cli("run", "--landing", str(small_landing),
                   env={**env, "TALLYHOUSE_DATABASE_URL": with_password.replace(
                       pg_server.get_uri().rsplit("/", 1)[0], "postgresql://nobody:"
                       f"{canary}@127.0.0.1:1")})
        outputs.append(bad)
    for done in outputs:
        assert canary not in done.stdout + done.stderr, done.args
    assert "***" in outputs[0].stdout
    written = [p for p in home.rglob("*") if p.is_file()]
    written += [p for p in (ROOT / "target").rglob("*") if p.is_file()]
    written += [p for p in (ROOT / "logs").rglob("*") if p.is_file()]
    assert any("dagster" in p.parts for p in written), "the run history was scanned"
    def holds_canary(path) -> bool:
        try:
            return canary.encode() in path.read_bytes()
        except FileNotFoundError:  # a parallel test's build folder, pruned meanwhile
            return False

    leaks = [p for p in written if holds_canary(p)]
    assert leaks == []


def test_a_link_out_of_the_landing_folder_is_refused_and_never_read(conn, tmp_path):
    from tallyhouse import ingest

    secret_file = tmp_path / "outside" / "secret.jsonl"
    secret_file.parent.mkdir()
    secret_file.write_text('{"id": "not-for-you", "password": "hunter2"}\n')
    landing = tmp_path / "landing"
    (landing / "hotmart").mkdir(parents=True)
    (landing / "hotmart" / "hotmart_webhooks_evil.jsonl").symlink_to(secret_file)
    (landing / "hotmart" / "hotmart_webhooks_dangling.jsonl").symlink_to(tmp_path / "gone")
    ingest.load_all(conn, landing)
    ingest.load_all(conn, landing)  # listed once, not again
    rows = query(conn, "select file_name, status, note from raw._manifest order by file_name")
    assert [(name, status) for name, status, _ in rows] == [
        ("hotmart/hotmart_webhooks_dangling.jsonl", "rejected"),
        ("hotmart/hotmart_webhooks_evil.jsonl", "rejected")]
    assert "outside the landing folder" in rows[1][2]
    dump = query(conn, "select raw_text, reason from raw._quarantine")
    assert len(dump) == 2 and not any("hunter2" in (text or "") for text, _ in dump)
    assert query(conn, "select count(*) from raw.hotmart_webhooks")[0][0] == 0


def test_breaks_csv_cells_are_never_formulas(clean_copy, tmp_path):
    from tallyhouse.reconciliation.report import spreadsheet_safe, write_report
    from tallyhouse.reconciliation.runner import DDL

    run_id = "formula-test"
    with psycopg2.connect(clean_copy) as connection, connection.cursor() as cur:
        cur.execute(DDL)
        cur.execute("insert into marts.rpt_reconciliation_summary (run_id, run_at, check_name, "
                    "invariant, severity, checked_table, description, passed, break_count, "
                    "duration_seconds) "
                    "values (%s, now(), 'money_formulas', 2, 'WARN', 'x', 'x', false, 2, 0)",
                    (run_id,))
        for entity in ("=1+2", "@SUM(A1:A9)"):
            cur.execute("insert into marts.rpt_reconciliation_breaks (run_id, run_at, "
                        "check_name, invariant, severity, break_kind, entity_type, entity_id, "
                        "difference, detail) values (%s, now(), 'money_formulas', 2, 'WARN', "
                        "'x', 'transaction', %s, -12.5, '+cmd|x')", (run_id, entity))
    written = write_report(clean_copy, run_id, root=tmp_path)
    with written.csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["entity_id"] for r in rows) == ["'=1+2", "'@SUM(A1:A9)"]
    assert {r["detail"] for r in rows} == {"'+cmd|x"}
    assert {r["difference"] for r in rows} == {"-12.5"}, "a negative number stays a number"
    assert spreadsheet_safe("-0.50") == "-0.50" and spreadsheet_safe("\t=x") == "'\t'=x"


def test_dashboards_refuse_the_network_without_sign_in(tmp_path):
    done = _cli("dashboard", "--host", "0.0.0.0", "--port", "1",
                env={"TALLYHOUSE_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "refusing to serve the dashboards on 0.0.0.0 without sign-in" in done.stdout

    from tallyhouse_cli.main import dashboard_auth_mode

    assert dashboard_auth_mode("127.0.0.1", no_auth=False) == "off"
    assert dashboard_auth_mode("0.0.0.0", no_auth=True) == "open"


def _money_and_counts(url: str) -> dict:
    figures = {}
    for (table,) in query(url, "select table_name from information_schema.tables where "
                               "table_schema = 'marts' and table_name not like 'rpt_recon%%' "
                               "order by 1"):
        numeric = [c for (c,) in query(url, "select column_name from information_schema.columns"
                                            " where table_schema = 'marts' and table_name = %s"
                                            " and data_type = 'numeric' order by 1", (table,))]
        sums = ", ".join(f'sum("{c}")' for c in numeric)
        figures[table] = query(url, f'select count(*){", " + sums if sums else ""} '
                                    f'from marts."{table}"')[0]
    return figures


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


def test_forget_erases_a_customer_of_three_platforms_everywhere_and_keeps_the_books(
        clean_copy, tmp_path):
    from tallyhouse import ingest
    from tallyhouse.dbt import run_dbt

    person = query(clean_copy, """
        select c.email, c.document, c.customer_key, d.transactions, d.platforms::text
        from restricted.customers as c join marts.dim_customers as d using (customer_key)
        where c.document is not null
        order by cardinality(d.platforms) desc, d.transactions desc limit 1""")
    email, document, key, transactions, platforms = person[0]
    assert platforms.count(",") >= 2, f"a customer of three platforms ({platforms})"
    assert _occurrences(clean_copy, email) and _occurrences(clean_copy, document)
    before = _money_and_counts(clean_copy)

    done = _cli("forget", "--email", email.upper(), env={"TALLYHOUSE_DATABASE_URL": clean_copy,
                                                         "TALLYHOUSE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert email not in done.stdout and "raw record(s) rewritten" in done.stdout

    assert _occurrences(clean_copy, email) == []
    assert _occurrences(clean_copy, document) == []
    assert _money_and_counts(clean_copy) == before, "keys, counts and money unchanged"
    assert query(clean_copy, "select transactions, platforms::text from marts.dim_customers "
                             "where customer_key = %s", (key,)) == [(transactions, platforms)]
    erased = query(clean_copy, "select email, name, document from restricted.customers "
                               "where customer_key = %s", (key,))
    assert erased == [(f"{key}@erased.invalid", "[erased]", "[erased]")]
    audit = query(clean_copy, "select person_keys, records_touched::text, record_hashes::text "
                              "from restricted.erasures")
    assert len(audit) == 1 and audit[0][0] == [key]
    assert email not in str(audit) and document not in str(audit)

    # a full refresh rebuilds from the rewritten records: still erased
    assert run_dbt(["run", "--full-refresh"], url=clean_copy, capture=True).returncode == 0
    assert _occurrences(clean_copy, email) == [] and _occurrences(clean_copy, document) == []

    # a delivery about the same e-mail after the erasure is a new person
    event = json.loads((REFERENCE / "hotmart/official_docs_examples/"
                        "PURCHASE_webhook_2.0.0_docs_example.json").read_text())
    event["id"] = "after-erasure-1"
    event["data"]["buyer"]["email"] = email
    event["data"]["purchase"]["transaction"] = "HP-AFTER-ERASURE-1"
    landing = tmp_path / "landing"
    (landing / "hotmart").mkdir(parents=True)
    (landing / "hotmart" / "hotmart_webhooks_late.jsonl").write_text(json.dumps(event) + "\n")
    connection = psycopg2.connect(clean_copy)
    try:
        ingest.load_all(connection, landing)
    finally:
        connection.close()
    assert run_dbt(["run", "--select", "+fct_transactions"], url=clean_copy,
                   capture=True).returncode == 0
    [(new_key,)] = query(clean_copy, "select customer_key from marts.fct_transactions where "
                                     "platform_transaction_id = 'HP-AFTER-ERASURE-1'")
    assert new_key and new_key != key
