"""Dagster definitions and the `tallyhouse` command, end to end on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tallyhouse.reconciliation.checks import CHECKS
from tallyhouse.sources import FEEDS

from conftest import execute_job, query, truth

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
        assert (f"{feed.source}/{feed.name}", "files_reconcile") in checks
    assert ("marts/rpt_payout_breaks", "payouts_match_platform") in checks
    assert ("marts/rpt_status_breaks", "status_mapping") in checks
    for feed in FEEDS:
        assert (f"{feed.source}/{feed.name}", "data_issues") in checks
    # findings never block the run: the report is always written
    from orchestration.defs.ingest.assets import loader_assets
    from orchestration.defs.reconciliation.assets import SPECS

    specs = [*SPECS, *(spec for a in loader_assets for spec in a.check_specs)]
    assert len(specs) > len(FEEDS) and not [s.name for s in specs if s.blocking]
    assert defs.resolve_job_def("tallyhouse") is not None
    schedule = defs.resolve_schedule_def("daily_reconciliation")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "0 6 * * *", "America/Sao_Paulo")
    assert schedule.job_name == "tallyhouse"


def test_loading_the_definitions_starts_no_database_and_parses_nothing(tmp_path):
    """Importing orchestration.definitions (what `dagster dev`, `dg` and a code server do)
    has no side effect: no embedded PostgreSQL is initialised or started, no dbt runs."""
    manifest = ROOT / "target" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    env = {k: v for k, v in os.environ.items()
           if k not in ("TALLYHOUSE_DATABASE_URL", "DAGSTER_IS_DEV_CLI")}
    env["TALLYHOUSE_HOME"] = str(tmp_path)
    # a dbt that would leave a trace if anything ran it
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "dbt").write_text(f"#!/bin/sh\ntouch {tmp_path}/dbt-ran\n")
    (fake_bin / "dbt").chmod(0o755)
    env["PATH"] = f"{fake_bin}:{env['PATH']}"
    done = subprocess.run(
        [sys.executable, "-c", "from orchestration.definitions import defs; "
         "print(len(list(defs.resolve_asset_graph().get_all_asset_keys())))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 50
    assert not (tmp_path / ".tallyhouse").exists(), "no database folder was created"
    assert not (tmp_path / "dbt-ran").exists()
    assert manifest.stat().st_mtime_ns == before, "the manifest was not parsed again"


def test_schedule_asks_for_a_run_every_morning():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from orchestration.definitions import defs
    from tallyhouse.config import business_time_zone

    schedule = defs.resolve_schedule_def("daily_reconciliation")
    assert schedule.cron_schedule == "0 6 * * *"
    # the clock and the marts' days follow one zone: the dbt var business_time_zone
    assert schedule.execution_timezone == business_time_zone() == "America/Sao_Paulo"
    requests = {}
    with dg.instance_for_test() as instance:
        # a Tuesday builds what changed; Sunday's run is the weekly full pass
        for day in (24, 29):
            context = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=datetime(2026, 11, day, 6, tzinfo=ZoneInfo(
                    "America/Sao_Paulo")))
            data = schedule.evaluate_tick(context)
            assert len(data.run_requests) == 1
            requests[day] = data.run_requests[0].tags
    assert requests[24]["trigger"] == requests[29]["trigger"] == "schedule"
    assert "tallyhouse/full_pass" not in requests[24]
    assert requests[29]["tallyhouse/full_pass"] == "true"


def test_sensor_starts_a_run_only_for_files_never_loaded(database_url, landing_copy):
    import psycopg2

    from orchestration.defs.sensors.new_landing_files import new_landing_files
    from orchestration.resources import LandingResource, WarehouseResource
    from tallyhouse import ingest

    resources = {"warehouse": WarehouseResource(database_url=database_url),
                 "landing": LandingResource(path=str(landing_copy))}

    def tick():
        with dg.DagsterInstance.ephemeral() as instance, \
                dg.build_sensor_context(instance=instance, resources=resources) as context:
            return new_landing_files(context)

    first = tick()
    assert isinstance(first, dg.RunRequest) and int(first.tags["new_files"]) > 10
    assert tick().run_key == first.run_key, "the same new files start one run, not two"
    conn = psycopg2.connect(database_url)
    try:
        ingest.load_all(conn, landing_copy)
    finally:
        conn.close()
    assert isinstance(tick(), dg.SkipReason)
    first_day = sorted((landing_copy / "pix").glob("pix_orders_*.jsonl"))[0]
    (landing_copy / "pix" / "pix_orders_2099-01-01.jsonl").write_text(
        first_day.read_text().splitlines()[0] + "\n")
    late = tick()
    assert isinstance(late, dg.RunRequest) and late.tags["new_files"] == "1"

    # a run of the job that is queued and not yet started loads the new file when it
    # starts: no second run is asked for; once it has started, the next new file asks again
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from orchestration.constants import JOB_NAME

    origin = RemoteJobOrigin(RemoteRepositoryOrigin(InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="orchestration.definitions")), "__repository__"),
        JOB_NAME)
    with dg.DagsterInstance.ephemeral() as instance:
        run = DagsterRun(job_name=JOB_NAME, run_id="queued-run-of-the-job",
                         status=dg.DagsterRunStatus.QUEUED, remote_job_origin=origin)
        instance.add_run(run)
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            waiting = new_landing_files(context)
        assert isinstance(waiting, dg.SkipReason) and "has not started" in waiting.skip_message
        instance.delete_run(run.run_id)
        instance.add_run(DagsterRun(job_name=JOB_NAME, run_id="started-run-of-the-job",
                                    status=dg.DagsterRunStatus.STARTED))
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            asked = new_landing_files(context)
        assert isinstance(asked, dg.RunRequest)
        # that run ends without loading the file (cancelled, failed before its load): the
        # same file is asked for again under a new key (Dagster drops a key already used)
        instance.delete_run("started-run-of-the-job")
        instance.add_run(DagsterRun(job_name=JOB_NAME, run_id="failed-run-of-the-job",
                                    status=dg.DagsterRunStatus.FAILURE))
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            again = new_landing_files(context)
        assert isinstance(again, dg.RunRequest) and again.run_key != asked.run_key
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert new_landing_files(context).run_key == again.run_key


def test_job_materializes_every_feed_and_mart_and_checks_pass(database_url, small_landing,
                                                            monkeypatch):
    # what a run on Spark earlier in the same process leaves set: a run on PostgreSQL
    # builds on PostgreSQL all the same
    monkeypatch.setenv("TALLYHOUSE_DBT_TARGET", "spark")
    monkeypatch.delenv("TALLYHOUSE_ENGINE", raising=False)
    result = execute_job(small_landing, database_url)
    assert result.success
    materialized = {m.asset_key.to_user_string()
                    for m in result.get_asset_materialization_events()}
    assert {f"{f.source}/{f.name}" for f in FEEDS} <= materialized
    assert {"marts/fct_transactions", "marts/fct_transaction_status_history",
            "staging/stg_hotmart__purchase_events"} <= materialized
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    assert "reconciliation_checks" in {e.step_key for e in result.all_events if e.step_key}
    # the whole job through Dagster writes the reconciliation report
    assert "reports/reconciliation_report" in materialized
    [report] = (Path(os.environ["TALLYHOUSE_HOME"]) / "reports").glob("*/reconciliation.html")
    assert "checks passed: the books agree" in report.read_text()
    assert (report.parent / "breaks.csv").exists() and (report.parent / "data_docs").is_dir()
    expected = truth(small_landing)["records"]
    assert query(database_url, "select count(*) from raw.hotmart_webhooks")[0][0] == \
        expected["hotmart_webhooks"]

    # nothing new: every check result is carried over from the run that computed it, and
    # said so (asset check metadata, the summary table, the report); none is skipped
    again = execute_job(small_landing, database_url)
    assert again.success
    carried = again.get_asset_check_evaluations()
    assert len(carried) == len(evaluations) and all(e.passed for e in carried)
    reconciliation = {check.name for check in CHECKS if not check.live}
    live = {check.name for check in CHECKS if check.live}
    assert live == {"stale_sources", "raw_intact"}
    for evaluation in carried:
        if evaluation.check_name in reconciliation:
            assert evaluation.metadata["carried_over_from_run"].value == result.run_id
        elif evaluation.check_name in live:  # the clock moves: computed again, every run
            assert "carried_over_from_run" not in evaluation.metadata
        elif evaluation.check_name == "resync_complete":  # the API re-sync: asked every run
            assert "carried_over_from_build_at" not in evaluation.metadata
            assert evaluation.metadata["error"].value == ""
        elif evaluation.check_name not in ("nothing_lost", "no_changed_files"):  # recounted
            assert "carried_over_from_build_at" in evaluation.metadata, evaluation.check_name
    assert query(database_url, "select count(*), count(*) filter (where carried_over_from = %s)"
                               " from marts.rpt_reconciliation_summary where run_id = %s",
                 (result.run_id, again.run_id)) == [(len(CHECKS), len(CHECKS) - len(live))]
    assert "carried over from it" in report.read_text()

    # nothing new for five days: the next run (nothing new again) says the feeds are stale,
    # although every other result is carried over
    query(database_url, "update raw._manifest set loaded_at = loaded_at - interval '5 days'")
    stale = execute_job(small_landing, database_url)
    assert stale.success, "a stale feed is a finding, not a failure"
    found = query(database_url, "select entity_id, detail from marts.rpt_reconciliation_breaks "
                                "where run_id = %s and check_name = 'stale_sources'",
                  (stale.run_id,))
    assert {feed for feed, _ in found} == {"hotmart_webhooks", "kiwify_webhooks",
                                           "eduzz_webhooks", "pix_payments", "pix_orders",
                                           "loyalty_entries"}
    assert all("no new" in detail and "data for 5 days" in detail for _, detail in found), found


def test_checks_run_again_once_something_new_lands(database_url, landing_copy):
    first = execute_job(landing_copy, database_url)
    late = sorted((landing_copy / "pix").glob("pix_orders_*.jsonl"))[-1]
    (landing_copy / "pix" / "pix_orders_2099-01-01.jsonl").write_text(
        late.read_text().splitlines()[0].replace('"orderId":"', '"orderId":"late-') + "\n")
    (floor,) = query(database_url, "select last_load_seq from raw._build_state")[0]
    second = execute_job(landing_copy, database_url)
    assert first.success and second.success
    # the run stated the scoped tests' floor to dbt (what the first build read raw through):
    # the tests of what it built look at the rows loaded since, and asked nothing again
    from tallyhouse.config import project_root

    (invocation,) = (project_root() / "target").glob(f"dbt_models-{second.run_id[:7]}-*")
    scoped = (next(invocation.rglob("not_null_stg_pix__orders_record_hash.sql"))
              .read_text())
    assert f"_load_seq > {floor}) dbt_subquery" in scoped, scoped
    log = (invocation / "dbt.log").read_text()
    assert floor > 0 and "raw._build_state" not in log.split("Concurrency:", 1)[1]
    assert not any("carried_over_from_run" in e.metadata
                   for e in second.get_asset_check_evaluations())
    # a micro-run: dbt built the models downstream of pix_orders and nothing else; every
    # other model is reported unchanged, every test that did not run is carried over
    from tallyhouse import micro_run

    manifest = json.loads((project_root() / "target" / "manifest.json").read_text())
    selection = micro_run.select(manifest, ("pix_orders",))
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    expected = {manifest["nodes"][uid]["name"] for uid in selection.build} & models
    rebuilt, unchanged = set(), set()
    for event in second.get_asset_materialization_events():
        name = event.asset_key.path[-1]
        if name in models:
            metadata = event.step_materialization_data.materialization.metadata
            (unchanged if "rebuilt" in metadata else rebuilt).add(name)
    assert rebuilt == expected and rebuilt | unchanged == models, (rebuilt ^ expected)
    assert {"stg_pix__orders", "fct_transactions"} <= rebuilt
    assert {"stg_hotmart__purchase_events", "stg_loyalty__entries"} <= unchanged
    checks = second.get_asset_check_evaluations()
    assert len(checks) == len(first.get_asset_check_evaluations())
    assert any("carried_over_from_build_at" in e.metadata for e in checks)
    assert all(e.passed for e in checks)

    # a delivery of the loyalty ledger only: no seed, no sales model is built (the skipped
    # part is reported first, in dependency order), the points models are
    ledger = sorted((landing_copy / "loyalty").glob("loyalty_entries_*.csv"))[-1]
    header, row = ledger.read_text().splitlines()[:2]
    (landing_copy / "loyalty" / "loyalty_entries_2099-01-01.csv").write_text(
        f"{header}\nlate-{row}\n")
    (entries,) = query(database_url, "select count(*) from marts.fct_points_ledger")[0]
    third = execute_job(landing_copy, database_url)
    assert third.success
    rebuilt = {e.asset_key.path[-1] for e in third.get_asset_materialization_events()
               if e.asset_key.path[-1] in models
               and "rebuilt" not in e.step_materialization_data.materialization.metadata}
    assert "stg_loyalty__entries" in rebuilt or "fct_points_ledger" in rebuilt, rebuilt
    assert not rebuilt & {"fct_transactions", "stg_pix__orders", "int_transactions"}
    assert query(database_url, "select count(*) from marts.fct_points_ledger") == \
        [(entries + 1,)]

    # a run of one model picked by hand is not a build of the project: the state the next
    # micro-run narrows from stays that of the last whole build
    state = query(database_url, "select last_file_id, built_at, in_progress "
                                "from raw._build_state")
    from orchestration.defs.transform.assets import dbt_models, dbt_resource
    from orchestration.resources import RunLockResource, WarehouseResource

    with dg.instance_for_test() as instance:
        picked = dg.materialize(
            [dbt_models], selection=[dg.AssetKey(["marts", "fct_points_ledger"])],
            instance=instance, raise_on_error=False,
            resources={"dbt": dbt_resource(),
                       "warehouse": WarehouseResource(database_url=database_url),
                       "run_lock": RunLockResource(database_url=database_url)})
    assert picked.success
    assert {e.asset_key.path[-1] for e in picked.get_asset_materialization_events()} == \
        {"fct_points_ledger"}
    assert query(database_url, "select last_file_id, built_at, in_progress "
                               "from raw._build_state") == state


def test_loader_checks_pass_on_quarantined_records_and_fail_on_a_lost_row(database_url,
                                                                         anomalies_landing):
    # quarantined records are kept, not lost: the loaders' own checks pass
    result = execute_job(anomalies_landing, database_url, loaders_only=True)
    assert result.success, "findings do not fail the run"
    failed = {(e.asset_key.to_user_string(), e.check_name)
              for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == set()
    # a row lost after loading makes the nothing_lost check fail on the next run
    query(database_url, "delete from raw.pix_orders where ctid in "
                        "(select ctid from raw.pix_orders limit 1)")
    again = execute_job(anomalies_landing, database_url, loaders_only=True)
    lost = [e for e in again.get_asset_check_evaluations()
            if e.check_name == "nothing_lost" and not e.passed]
    assert [e.asset_key.to_user_string() for e in lost] == ["pix/pix_orders"]
    assert lost[0].severity == dg.AssetCheckSeverity.ERROR
    # still missing on the run after: the feed is recounted until every row is back
    third = execute_job(anomalies_landing, database_url, loaders_only=True)
    assert [e.asset_key.to_user_string() for e in third.get_asset_check_evaluations()
            if e.check_name == "nothing_lost" and not e.passed] == ["pix/pix_orders"]
    # the other feeds checked only what they loaded (nothing): no full scan of their rows
    counted = {e.asset_key.to_user_string(): e.metadata["counted"].value
               for e in third.get_asset_check_evaluations() if e.check_name == "nothing_lost"}
    assert counted["pix/pix_orders"] == "every file"
    assert counted["hotmart/hotmart_webhooks"] == "the files of this run"


def _cli(*args: str, env_extra: dict | None = None,
         stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "tallyhouse_cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, input=stdin)


def test_tallyhouse_run_loads_and_summarizes(database_url, small_landing, tmp_path):
    done = _cli("run", "--landing", str(small_landing),
                env_extra={"TALLYHOUSE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Loaded this run:" in done.stdout
    assert "All checks passed." in done.stdout
    assert f"Reconciliation: {len(CHECKS)} checks, 0 with breaks, 0 breaks found." in done.stdout
    report = Path(next(line for line in done.stdout.splitlines()
                       if line.strip().startswith("Report:")).split("Report:")[1].strip())
    assert report.exists() and report.is_relative_to(tmp_path)
    hotmart = next(line for line in done.stdout.splitlines() if line.strip().startswith("hotmart"))
    landed = int(hotmart.split()[3].replace(",", ""))
    assert landed == truth(small_landing)["records"]["hotmart_webhooks"]
    # run history in the state folder, under the committed instance configuration
    assert (tmp_path / ".tallyhouse" / "dagster" / "history" / "runs.db").exists()
    assert not (tmp_path / ".tallyhouse" / "dagster" / "dagster.yaml").exists()
    # the first build runs dbt's unit tests (a run that follows a complete build of the
    # same project leaves them out)
    [log] = (tmp_path / ".tallyhouse" / "logs").glob("run-*.log")
    command = next(line for line in log.read_text().splitlines()
                   if "Running dbt command:" in line)
    assert " build" in command and "unit_test" not in command
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
    psql = _cli("db", "psql", "--owner", "-tAc", "select current_user, 40 + 2")
    assert psql.stdout.strip() == "postgres|42"
    # psql is the owner's prompt only when asked for by name; analysts have tallyhouse sql
    refused = _cli("db", "psql", "-tAc", "select 1")
    assert refused.returncode == 2 and "tallyhouse sql" in refused.stdout
    prompt = _cli("sql", stdin="select current_user as who;\n")
    assert prompt.returncode == 0 and "tallyhouse_analyst" in prompt.stdout


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


def test_freshness_settings_read_from_the_environment(monkeypatch):
    from orchestration.defs.sensors.new_landing_files import sensor_seconds
    from tallyhouse.receiver.app import rotate_seconds_from_env as _rotate_seconds_default

    monkeypatch.delenv("TALLYHOUSE_SENSOR_SECONDS", raising=False)
    monkeypatch.delenv("TALLYHOUSE_RECEIVER_ROTATE_SECONDS", raising=False)
    assert sensor_seconds() == 10 and _rotate_seconds_default() == 10.0
    monkeypatch.setenv("TALLYHOUSE_SENSOR_SECONDS", "30")
    monkeypatch.setenv("TALLYHOUSE_RECEIVER_ROTATE_SECONDS", "2.5")
    assert sensor_seconds() == 30 and _rotate_seconds_default() == 2.5
    # Dagster's sensor loop looks every 5 s at most; a bad value is the default, never a
    # sensor or receiver that does not start
    monkeypatch.setenv("TALLYHOUSE_SENSOR_SECONDS", "1")
    monkeypatch.setenv("TALLYHOUSE_RECEIVER_ROTATE_SECONDS", "-3")
    assert sensor_seconds() == 5 and _rotate_seconds_default() == 10.0
    monkeypatch.setenv("TALLYHOUSE_SENSOR_SECONDS", "ten")
    monkeypatch.setenv("TALLYHOUSE_RECEIVER_ROTATE_SECONDS", "soon")
    assert sensor_seconds() == 10 and _rotate_seconds_default() == 10.0
