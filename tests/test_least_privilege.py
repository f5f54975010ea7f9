"""Text a person types never runs in the warehouse owner's session: `tallyhouse sql`,
`tallyhouse metrics` (its --where) and the dashboards run as reader logins, read-only by
the role's settings, one statement per execution. Every injection shape a hostile tester
used changes nothing and runs nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tallyhouse import readers, roles

from conftest import query

# the shapes that, before, ran an OS command and wrote in marts from a metrics filter
PLATFORM = "{{ Dimension('transaction__platform') }} = 'hotmart'"


def _shapes(marker) -> list[str]:
    # each closes MetricFlow's WHERE ( … ) and GROUP BY, so the whole string parses: sent as
    # several statements, the ones in the middle would run
    rest = "; COMMIT; SELECT 1 WHERE ('1' = '1'"
    return [
        f"{PLATFORM}) GROUP BY 1; COMMIT; COPY (SELECT 1) TO PROGRAM 'id > {marker}'{rest}",
        f"{PLATFORM}) GROUP BY 1; COMMIT; CREATE TABLE marts.injected (x int){rest}",
        f"{PLATFORM}) GROUP BY 1; COMMIT; DELETE FROM marts.fct_transactions{rest}",
    ]


@pytest.fixture
def warehouse(clean_copy, monkeypatch) -> str:
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", clean_copy)
    return clean_copy


def _state(url: str) -> tuple:
    return (query(url, "select count(*) from marts.fct_transactions")[0][0],
            query(url, "select to_regclass('marts.injected') is not null")[0][0],
            query(url, "select count(*) from pg_tables where schemaname = 'marts'")[0][0])


def test_metric_filters_cannot_write_or_run_a_command(warehouse, tmp_path):
    from tallyhouse import metrics

    marker = tmp_path / "ran.txt"
    before = _state(warehouse)
    for where in _shapes(marker):
        with pytest.raises(metrics.MetricsError, match="multiple commands"):
            metrics.query(["gross_revenue"], ["platform"], where=[where], currency="BRL")
    assert not marker.exists(), "the OS command ran"
    assert _state(warehouse) == before
    # the same through the command line a person types it into
    env = dict(os.environ, TALLYHOUSE_DATABASE_URL=warehouse)
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "metrics", "query",
                           "--metrics", "gross_revenue", "--group-by", "platform",
                           "--currency", "BRL", "--where", _shapes(marker)[0]],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "multiple commands" in done.stdout
    assert not marker.exists()
    # a clean filter still answers, as the analyst
    answer = metrics.query(["gross_revenue"], ["platform"], where=[PLATFORM], currency="BRL")
    assert [row[0] for row in answer.rows] == ["hotmart"]


@pytest.mark.parametrize("text", [
    "select 1; copy (select 1) to program 'id > {marker}'",
    "copy (select 1) to program 'id > {marker}'",
    "create table marts.injected (x int)",
    "delete from marts.fct_transactions",
    "with gone as (delete from marts.fct_transactions returning 1) select count(*) from gone",
    "select 1; commit; create table marts.injected (x int)",
    "select pg_read_file('/etc/hostname')",
    "select current_setting('tallyhouse.key_ipad')",
    "select * from restricted.customers",
    # the run lock is the owner's: a reader holding it would stop every run
    "select pg_advisory_lock(7312000), pg_sleep(1)",
    "select pg_try_advisory_lock_shared(7312000)",
])
def test_tallyhouse_sql_refuses_every_injection_shape(warehouse, tmp_path, text):
    marker = tmp_path / "ran.txt"
    before = _state(warehouse)
    env = dict(os.environ, TALLYHOUSE_DATABASE_URL=warehouse)
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "sql",
                           text.format(marker=marker)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith("tallyhouse sql:")
    assert not marker.exists()
    assert _state(warehouse) == before


def test_tallyhouse_sql_answers_as_the_read_only_analyst(warehouse):
    env = dict(os.environ, TALLYHOUSE_DATABASE_URL=warehouse)
    done = subprocess.run(
        [sys.executable, "-m", "tallyhouse_cli", "sql",
         "select current_user as who, current_setting('transaction_read_only') as ro, "
         "count(*) as n, '100%' as literal from marts.fct_transactions", "--csv", "-"],
        capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    header, row = done.stdout.splitlines()[:2]
    count = query(warehouse, "select count(*) from marts.fct_transactions")[0][0]
    assert header == "who,ro,n,literal"
    assert row == f"{roles.ANALYST},on,{count},100%"


def test_an_owner_connection_is_never_used_for_typed_text(warehouse, monkeypatch):
    # a reader URL that points at the owner (a superuser here) is refused, not used
    monkeypatch.setenv(roles.ANALYST_URL_ENV, warehouse)
    with pytest.raises(readers.RefusedQuery, match="superuser"):
        readers.run_read_only("select 1", readers.reader_conninfo())
    # a login that is not read-only by its settings is refused too
    monkeypatch.delenv(roles.ANALYST_URL_ENV)
    query(warehouse, "drop role if exists lp_writer")
    query(warehouse, f"create role lp_writer login in role {roles.ANALYST}")
    try:
        url = roles.analyst_url(warehouse).replace(roles.ANALYST, "lp_writer", 1)
        with pytest.raises(readers.RefusedQuery, match="not read-only"):
            readers.run_read_only("select 1", url)
        roles.ensure_reader_login("lp_writer", warehouse)
        assert readers.run_read_only("select current_user", url).rows == [("lp_writer",)]
    finally:
        query(warehouse, "drop owned by lp_writer")
        query(warehouse, "drop role lp_writer")


def test_dashboards_session_is_a_read_only_reader_of_one_statement(warehouse):
    from dashboards import queries

    roles.ensure_roles(warehouse)
    queries.clear_caches()
    row = queries.read("select current_user as who, current_setting('transaction_read_only') "
                       "as ro, current_setting('is_superuser') as su, :x as bound",
                       {"x": "1; drop table marts.fct_transactions"}).iloc[0]
    assert (row["who"], row["ro"], row["su"]) == (roles.DASHBOARD, "on", "off")
    assert row["bound"] == "1; drop table marts.fct_transactions"  # a value, never SQL
    # pandas wraps the driver's error in its own
    with pytest.raises(Exception, match="multiple commands"):
        queries.read("select 1 where 1 = :one; delete from marts.fct_transactions", {"one": 1})
    with pytest.raises(Exception, match="read-only"):
        queries.read("create table marts.injected (x int)", {"unused": 1})
    assert query(warehouse, "select count(*) from marts.fct_transactions")[0][0] > 0
