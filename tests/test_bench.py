"""`tallyhouse bench` end to end on a small run: every figure is there. No time is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prints_and_writes_every_figure(database_url, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "tallyhouse_cli", "bench", "--transactions", "2000",
         "--json", str(out), "--workdir", str(tmp_path / "work"),
         # freshness: a real receiver and Dagster daemon, a few webhooks
         "--freshness", "--rate", "1", "--for-seconds", "8", "--rotate-seconds", "5",
         "--sensor-seconds", "5"],
        cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for stage in ("load", "dbt_build", "checks", "report"):
        assert figures["job"]["stages"][stage] > 0, stage
    assert figures["generate"]["records"] == figures["job"]["records"] + \
        figures["incremental"]["records"], "every generated record is loaded once"
    assert figures["baseline"]["rows"] == figures["job"]["records"]
    assert figures["baseline"]["aggregate_rows"] > 0
    for key in ("job_over_baseline", "load_over_copy", "dashboards_p95_max_ms"):
        assert figures[key] > 0, key
    assert 0 < figures["incremental"]["share_of_records"] < 0.05
    assert figures["incremental"]["rows_written"] > 0
    assert figures["nothing_new"]["rows_written"] == 0, "a run with nothing new changes no row"
    # one webhook: a micro-run that lands it and rebuilds only what is downstream of its feed
    assert figures["one_webhook"]["rows_written"] > 0
    assert figures["one_webhook"]["stages"]["dbt_build"] > 0
    assert set(figures["dashboards"]) >= {"sales_totals", "refund_rates_by_product",
                                          "payment_methods", "reconciliation_runs",
                                          "subscriptions_monthly", "points_liability"}
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in figures["dashboards"].values())
    assert figures["peak_memory_mib"]["process_tree"] > 0
    assert figures["peak_memory_mib"]["postgres"] > 0
    assert set(figures["targets"]) == {
        "job_over_baseline_le_3", "incremental_le_15_percent", "nothing_new_le_10_s",
        "one_webhook_le_15_s", "nothing_new_changes_no_row", "dashboard_p95_le_300_ms",
        "peak_memory_le_4_gib", "database_le_5000_bytes_per_transaction",
        "freshness_p95_le_60_s"}
    foot = figures["footprint"]
    assert foot["transactions"] > 0 and foot["database_bytes"] > 0
    assert {"raw", "staging", "intermediate", "marts"} <= set(foot["schemas"])
    assert all(p["bytes"] == p["table_bytes"] + p["index_bytes"]
               for p in foot["schemas"].values())
    assert "bytes per transaction" in done.stdout
    assert "job / baseline:" in done.stdout and "targets:" in done.stdout
    # freshness: every acknowledged webhook reached both marts through receiver, sensor, job
    fresh = figures["freshness"]
    assert fresh["acknowledged"] == fresh["posted"] == 8 and fresh["failed"] == 0
    assert fresh["never_seen"] == 0
    for mart in ("fct_transactions", "agg_daily_sales"):
        part = fresh[mart]
        assert part["count"] == 8, mart
        assert 0 < part["p50_s"] <= part["p95_s"] <= part["max_s"], mart
    assert fresh["agg_daily_sales"]["p50_s"] >= fresh["fct_transactions"]["p50_s"]
    assert fresh["runs"]["runs"] >= 1 and set(fresh["runs"]["statuses"]) == {"SUCCESS"}
    assert "200 -> agg_daily_sales" in done.stdout
