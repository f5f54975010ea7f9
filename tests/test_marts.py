"""The dbt marts on a real PostgreSQL: equal to the generator's ground truth to the cent,
the monthly analyses run and agree, and every sales anomaly is flagged by its test."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
import truthcheck

from tallyhouse.config import project_root
from tallyhouse.dbt import run_dbt

from conftest import build, query, snapshot_marts, truth

ROOT = project_root()


def test_marts_equal_the_ground_truth_to_the_cent(clean_build, small_landing):
    url, _ = clean_build
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cur:
            assert truthcheck.differences(cur, small_landing) == []
            # and the comparison covers every platform and currency of the truth
            assert set(truthcheck.mart_figures(cur)) == set(
                truthcheck.expected_figures(truth(small_landing)))
    finally:
        connection.close()


def test_every_dbt_test_passes_on_clean_data(clean_build):
    _, results = clean_build
    tests = {uid: r for uid, r in results.items() if uid.startswith(("test.", "unit_test."))}
    assert len(tests) > 60
    # the job's runs leave dbt's unit tests out (--exclude-resource-type unit_test): this
    # build is where they run
    assert sum(uid.startswith("unit_test.") for uid in tests) >= 10
    assert {uid: r["status"] for uid, r in tests.items() if r["status"] != "pass"} == {}


def _analysis(url: str, compiled: Path, name: str) -> list[tuple]:
    sql = (compiled / "compiled" / "tallyhouse" / "analyses" / f"{name}.sql").read_text()
    return query(url, sql)


def test_a_purchase_event_lost_between_raw_and_the_events_is_caught(clean_copy):
    """The survival check (every record a purchase stream reads is an event, or listed as
    left out): silent on the clean build; a staged Hotmart purchase and a Kiwify order gone
    from staging are each a failing row, found by the join on record hashes before any
    payload is parsed."""
    url = clean_copy
    check = ["test", "--select", "assert_raw_events_survive_staging"]
    clean = run_dbt(check, url=url, capture=True)
    assert clean.returncode == 0, clean.stdout[-3000:]
    lost = query(url, """
        with gone as (
            delete from staging.stg_hotmart__purchase_events
            where record_hash = (select min(record_hash) from staging.stg_hotmart__purchase_events)
            returning record_hash
        ), gone_too as (
            delete from staging.stg_kiwify__order_events
            where record_hash = (select min(record_hash) from staging.stg_kiwify__order_events
                                 where event_name <> 'subscription_canceled')
            returning record_hash
        )
        select record_hash from gone union all select record_hash from gone_too""")
    assert len(lost) == 2
    broken = run_dbt(check, url=url, capture=True)
    assert broken.returncode == 1, broken.stdout[-3000:]
    [result] = [r for r in broken.artifact("run_results.json")["results"]
                if r["unique_id"].startswith("test.")]
    assert result["status"] == "fail" and result["failures"] == 2


def test_monthly_analyses_run_and_agree_with_the_truth(clean_build, small_landing):
    url, _ = clean_build
    done = run_dbt(["compile", "--select", "resource_type:analysis"], url=url, capture=True)
    assert done.returncode == 0, done.stdout[-2000:]
    compiled = done.target_path
    sales = truth(small_landing)["sales"]
    labels = dict(query(url, "select status_code, label_pt from seeds.transaction_statuses"))

    expected_by_status: dict = defaultdict(lambda: [0, Decimal(0)])
    for by_currency in sales.values():
        for currency, values in by_currency.items():
            for key, value in values.items():
                if key.startswith("final_status.") and key.endswith(".count"):
                    status = key.split(".")[1]
                    expected_by_status[(labels[status], currency)][0] += value
                    expected_by_status[(labels[status], currency)][1] += Decimal(
                        values[f"final_status.{status}.offer_price"])
    got = {(status, currency): [count, total]
           for status, currency, count, total in _analysis(url, compiled, "sales_by_status")}
    assert got == {k: v for k, v in expected_by_status.items()}

    performance = {(p, c): (n, gross) for p, c, n, gross, *_ in
                   _analysis(url, compiled, "performance_by_platform")}
    assert performance == {
        (platform, currency): (values["final_status.approved.count"],
                               Decimal(values["final_status.approved.offer_price"]))
        for platform, by_currency in sales.items() for currency, values in by_currency.items()
        if values.get("final_status.approved.count")
    }

    methods = defaultdict(int)
    for by_currency in sales.values():
        for currency, values in by_currency.items():
            for key, value in values.items():
                if key.startswith("final_approved.payment_method.") and key.endswith(".count"):
                    methods[(key.split(".")[2], currency)] += value
    got_methods = {(m, c): n for m, c, n, *_ in
                   _analysis(url, compiled, "payment_method_distribution")}
    assert got_methods == dict(methods)

    by_product = truth(small_landing)["final_status_by_product"]
    refund_rates = {name: (approved, refunded)
                    for name, _, approved, refunded, _ in
                    _analysis(url, compiled, "refund_rate_by_product")}
    assert refund_rates, "some products have more than 10 sales"
    for name, (approved, refunded) in refund_rates.items():
        assert (approved, refunded) == (by_product[name].get("approved", 0),
                                        by_product[name].get("refunded", 0)), name


def test_rebuilding_changes_nothing(clean_build, small_landing):
    url, _ = clean_build
    before = query(url, "select md5(string_agg(t::text, ',' order by transaction_key)) "
                        "from marts.fct_transactions as t")
    build(url, small_landing)
    after = query(url, "select md5(string_agg(t::text, ',' order by transaction_key)) "
                       "from marts.fct_transactions as t")
    assert before == after


def test_sales_anomalies_are_flagged_by_their_tests(database_url, anomalies_landing):
    results = build(database_url, anomalies_landing)
    anomalies = json.loads((anomalies_landing / "_anomalies.json").read_text())["anomalies"]
    by_kind = {a["kind"]: a for a in anomalies}
    # each rule lives once, in its family's rpt_*_breaks model; data trips no dbt test
    assert not [uid for uid, r in results.items()
                if uid.startswith("test.") and r["status"] not in ("pass", "success")]

    def rule(model: str, check: str) -> list[tuple]:
        return query(database_url, f"select platform, detail from marts.{model} "
                                   "where check_name = %s", (check,))

    [(platform, detail)] = rule("rpt_status_breaks", "status_mapping")
    assert platform == "eduzz" and "'99'" in detail
    [(platform, detail)] = rule("rpt_status_breaks", "payment_method_mapping")
    assert platform == "hotmart" and "'BANK_SLIP_FLASH'" in detail
    invalid = by_kind["invalid_transition"]["entity"]
    assert query(database_url, "select entity_id, detail from marts.rpt_status_breaks "
                 "where break_kind = 'invalid_transition'") == [
        (invalid["platform_transaction_id"], query(
            database_url, "select format('approved -> expired at %%s is not an allowed "
            "transition', changed_at) from marts.fct_transaction_status_history where "
            "platform_transaction_id = %s and status = 'expired'",
            (invalid["platform_transaction_id"],))[0][0])]
    broken = set(query(database_url, "select platform, entity_id from marts.rpt_money_breaks "
                                     "where check_name = 'money_formulas'"))
    assert broken == {
        (by_kind[k]["entity"]["platform"], by_kind[k]["entity"]["platform_transaction_id"])
        for k in ("commissions_do_not_sum_to_price", "producer_net_mismatch",
                  "currency_mismatch")}
    # the unmapped status is visible in the marts as `unknown`, not dropped
    assert query(database_url, "select status from marts.fct_transactions "
                 "where platform = 'eduzz' and platform_transaction_id = %s",
                 (by_kind["unmapped_status"]["entity"]["platform_transaction_id"],)) == [
        ("unknown",)]


def test_incremental_build_equals_full_refresh(database_url, small_landing, tmp_path):
    # First half of the days, built; then everything, built incrementally; then a full
    # refresh of the same data: the marts must be identical.
    early = tmp_path / "early"
    for path in small_landing.rglob("*"):
        if path.is_file() and not path.name.startswith("_"):
            day = path.stem.rsplit("_", 1)[-1]
            if day < "2026-05-16":
                target = early / path.relative_to(small_landing)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    build(database_url, early)
    first = query(database_url, "select count(*) from marts.fct_transactions")[0][0]
    # Only what the second load brought is re-read (by load number), so the incremental
    # paths (staging, status history, transactions) really are the ones tested.
    build(database_url, small_landing)
    touched = query(database_url, "select count(*) from intermediate.int_transactions "
                                  "where last_load_seq > (select min(last_load_seq) "
                                  "from intermediate.int_transactions)")[0][0]
    incremental = snapshot_marts(database_url)
    total = query(database_url, "select count(*) from marts.fct_transactions")[0][0]
    assert total > first
    assert 0 < touched < total
    build(database_url, small_landing, "--full-refresh")
    assert snapshot_marts(database_url) == incremental
    assert len(incremental) >= 10


def test_a_platform_with_no_data_builds_empty_marts(database_url, small_landing, tmp_path):
    only_hotmart = tmp_path / "landing"
    (only_hotmart / "hotmart").mkdir(parents=True)
    for path in (small_landing / "hotmart").iterdir():
        (only_hotmart / "hotmart" / path.name).write_bytes(path.read_bytes())
    build(database_url, only_hotmart)
    assert query(database_url, "select distinct platform from marts.fct_transactions") == [
        ("hotmart",)]
    assert query(database_url, "select count(*) from staging.stg_eduzz__invoice_events") == [
        (0,)]


def test_dbt_docs_generate(clean_build):
    url, _ = clean_build
    done = run_dbt(["docs", "generate"], url=url, capture=True)
    assert done.returncode == 0, done.stdout[-2000:]
    catalog = done.artifact("catalog.json")
    assert "model.tallyhouse.fct_transactions" in catalog["nodes"]
    manifest = done.artifact("manifest.json")
    undocumented = [
        f"{node['name']}.{column}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
        for column, spec in node["columns"].items() if not spec.get("description")
    ]
    assert undocumented == []
    marts = [node for node in manifest["nodes"].values()
             if node["resource_type"] == "model" and node["schema"] == "marts"]
    assert all(node["description"] for node in marts)
    # every mart is under an enforced contract: its columns and types are checked by dbt on
    # every build, and its grain is a primary key PostgreSQL enforces
    assert all(node["config"]["contract"]["enforced"] for node in marts)
    # (aggregates have composite grains with nullable parts, tested by unique_combination;
    # four break lists have one row per break and no key of their own)
    keyless = {"rpt_money_breaks", "rpt_status_breaks", "rpt_file_breaks",
               "rpt_platform_totals_breaks"}
    tables = [node for node in marts if node["config"]["materialized"] != "view"
              and not node["name"].startswith("agg_") and node["name"] not in keyless]
    missing = [node["name"] for node in tables
               if not any(c["type"] == "primary_key" for c in node["constraints"])]
    assert missing == []
    assert set(catalog["nodes"]) >= {node["unique_id"] for node in marts}
    # and PostgreSQL enforces the grain
    with pytest.raises(psycopg2.errors.UniqueViolation):
        query(url, "insert into marts.fct_transactions "
                   "select * from marts.fct_transactions limit 1")
