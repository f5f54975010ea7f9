"""Dagster definitions and the `tallyhouse` command, end to end on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tallyhouse.sources import FEEDS

from conftest import query, truth

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_a_loader_asset_per_feed():
    from orchestration.definitions import defs

    keys = {key.path[0] + "/" + key.path[1]
            for key in defs.resolve_asset_graph().get_all_asset_keys()}
    # loader asset keys equal dbt source keys: [source folder, raw table]
    assert {f"{feed.source}/{feed.name}" for feed in FEEDS} <= keys
    checks = {(c.asset_key.to_user_string(), c.name)
              for c in defs.resolve_asset_graph().asset_check_keys}
    for feed in FEEDS:
        assert (f"{feed.source}/{feed.name}", "nothing_lost") in checks
    assert defs.resolve_job_def("tallyhouse") is not None


def _execute(landing: Path, url: str, loaders_only: bool = False):
    from orchestration.definitions import defs
    from orchestration.defs.ingest.assets import loader_assets
    from orchestration.resources import LandingResource, WarehouseResource

    resources = {"warehouse": WarehouseResource(database_url=url),
                 "landing": LandingResource(path=str(landing))}
    with dg.instance_for_test() as instance:
        if loaders_only:
            return dg.materialize(loader_assets, instance=instance, resources=resources,
                                  raise_on_error=False)
        return defs.resolve_job_def("tallyhouse").execute_in_process(
            instance=instance, raise_on_error=False, resources=resources)


def test_job_materializes_every_feed_and_mart_and_checks_pass(database_url, small_landing):
    result = _execute(small_landing, database_url)
    assert result.success
    materialized = {m.asset_key.to_user_string()
                    for m in result.get_asset_materialization_events()}
    assert {f"{f.source}/{f.name}" for f in FEEDS} <= materialized
    assert {"marts/fct_transactions", "marts/fct_transaction_status_history",
            "staging/stg_hotmart__purchase_events"} <= materialized
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    expected = truth(small_landing)["records"]
    assert query(database_url, "select count(*) from raw.hotmart_webhooks")[0][0] == \
        expected["hotmart_webhooks"]


def test_job_reports_quarantine_and_lost_rows_as_failed_checks(database_url, anomalies_landing):
    result = _execute(anomalies_landing, database_url, loaders_only=True)
    assert result.success, "findings do not fail the run"
    failed = {(e.asset_key.to_user_string(), e.check_name)
              for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {("hotmart/hotmart_webhooks", "nothing_quarantined"),
                      ("eduzz/eduzz_webhooks", "nothing_quarantined"),
                      ("kiwify/kiwify_webhooks", "nothing_quarantined"),
                      ("loyalty/loyalty_entries", "nothing_quarantined")}
    # a row lost after loading makes the blocking nothing_lost check fail on the next run
    query(database_url, "delete from raw.pix_orders where ctid in "
                        "(select ctid from raw.pix_orders limit 1)")
    again = _execute(anomalies_landing, database_url, loaders_only=True)
    lost = [e for e in again.get_asset_check_evaluations()
            if e.check_name == "nothing_lost" and not e.passed]
    assert [e.asset_key.to_user_string() for e in lost] == ["pix/pix_orders"]
    assert lost[0].severity == dg.AssetCheckSeverity.ERROR


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "tallyhouse.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_tallyhouse_run_loads_and_summarizes(database_url, small_landing, tmp_path):
    home = tmp_path / "dagster-home"
    done = _cli("run", "--landing", str(small_landing),
                env_extra={"TALLYHOUSE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Loaded this run:" in done.stdout
    assert "All checks passed." in done.stdout
    hotmart = next(line for line in done.stdout.splitlines() if line.strip().startswith("hotmart"))
    landed = int(hotmart.split()[3].replace(",", ""))
    assert landed == truth(small_landing)["records"]["hotmart_webhooks"]
    assert (tmp_path / ".tallyhouse" / "dagster" / "dagster.yaml").exists() or home
    again = _cli("run", "--landing", str(small_landing),
                 env_extra={"TALLYHOUSE_HOME": str(tmp_path)})
    assert again.returncode == 0
    assert "nothing new" in again.stdout


def test_tallyhouse_run_on_an_empty_landing_runs(database_url, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli("run", "--landing", str(empty), env_extra={"TALLYHOUSE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "holds no extracts" in done.stdout


def test_generate_command_writes_truth_and_anomalies(tmp_path):
    out = tmp_path / "x"
    done = _cli("generate", "--out", str(out), "--transactions", "300", "--days", "10",
                "--anomalies")
    assert done.returncode == 0, done.stderr
    assert (out / "_truth.json").exists() and (out / "_anomalies.json").exists()
    again = _cli("generate", "--out", str(out), "--transactions", "300")
    assert again.returncode == 2 and "not empty" in again.stdout


def test_db_url_follows_the_environment(database_url):
    done = _cli("db", "url")
    assert done.stdout.strip() == database_url
    psql = _cli("db", "psql", "-tAc", "select 40 + 2")
    assert psql.stdout.strip() == "42"


def test_embedded_database_starts_on_demand_and_stops(tmp_path, monkeypatch):
    monkeypatch.delenv("TALLYHOUSE_DATABASE_URL", raising=False)
    env = {"TALLYHOUSE_HOME": str(tmp_path)}
    try:
        started = _cli("db", "start", env_extra=env)
        assert started.returncode == 0, started.stderr
        assert str(tmp_path / ".tallyhouse" / "pgdata") in started.stdout
        status = _cli("db", "status", env_extra=env)
        assert "running" in status.stdout
        url = _cli("db", "url", env_extra=env).stdout.strip()
        assert query(url, "select current_database()")[0][0] == "tallyhouse"
    finally:
        stopped = _cli("db", "stop", env_extra=env)
    assert stopped.stdout.strip() == "stopped"
    assert "stopped" in _cli("db", "status", env_extra=env).stdout
