"""The reconciliation checks (Great Expectations) and the report, on real builds.

Clean books pass every check; each injected anomaly is found by the check meant for it with
its entity and amount, and nothing else is reported; every check fails on a broken case.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import psycopg2
import pytest

from tallyhouse.dbt import run_dbt
from tallyhouse.reconciliation.checks import CHECKS
from tallyhouse.reconciliation.report import write_report
from tallyhouse.reconciliation.runner import run_checks, save

from conftest import execute_job, query


def _run(url: str, run_id: str, tmp_path) -> tuple[list, object]:
    from datetime import UTC, datetime

    outcomes = run_checks(url, docs_dir=tmp_path / "docs")
    save(url, run_id, datetime.now(UTC), outcomes)
    return outcomes, write_report(url, run_id, root=tmp_path / "reports")


def test_clean_books_pass_every_check_and_the_report_says_so(clean_build, tmp_path):
    url, _ = clean_build
    outcomes, written = _run(url, "clean-1", tmp_path)
    failing = [(o.check.name, o.error, o.breaks[:3]) for o in outcomes if not o.passed]
    assert failing == []
    assert len(outcomes) == len(CHECKS) and {o.check.invariant for o in outcomes} == set(
        range(1, 8))
    page = written.html_path.read_text()
    assert f"All {len(CHECKS)} checks passed" in page and "No break" in page
    assert written.breaks == 0
    with written.csv_path.open() as handle:
        assert len(list(csv.reader(handle))) == 1  # the header only
    assert (tmp_path / "docs" / "index.html").exists(), "GX Data Docs are built"
    # a second run compares with the first
    _, again = _run(url, "clean-2", tmp_path)
    assert "clean-1" in again.html_path.read_text()


def _entity(anomaly: dict) -> str:
    e = anomaly["entity"]
    if "file" in e:
        return f"{e['file']}:{e['line']}"
    return (e.get("authorization_id") or e.get("order_number") or e.get("order_id")
            or e.get("card_id") or e.get("platform_transaction_id") or e.get("account_id"))


def test_each_anomaly_is_found_by_its_check_and_nothing_else(database_url, anomalies_landing,
                                                            tmp_path):
    result = execute_job(anomalies_landing, database_url)
    run_id = result.run_id
    listed = json.loads((anomalies_landing / "_anomalies.json").read_text())["anomalies"]
    found = {(check, entity): (stake, unit) for check, entity, stake, unit in query(
        database_url, "select check_name, entity_id, amount_at_stake, coalesce(currency_code, "
                      "unit) from marts.rpt_reconciliation_breaks where run_id = %s", (run_id,))}
    expected = {(a["check"], _entity(a)): a for a in listed}
    assert set(found) == set(expected)
    wrong = []
    for key, anomaly in expected.items():
        if anomaly["amount_at_stake"] is not None:
            want = (Decimal(anomaly["amount_at_stake"]), anomaly["currency"])
        elif anomaly["points_at_stake"] is not None:
            want = (anomaly["points_at_stake"], "points")
        else:
            continue
        if found[key] != want:
            wrong.append((key, found[key], want))
    assert wrong == []
    # structural findings are ERROR, money breaks WARN; neither stops the report
    evaluations = {(e.check_name, e.asset_key.to_user_string()): e
                   for e in result.get_asset_check_evaluations()}
    mapping = evaluations[("status_mapping", "marts/rpt_status_breaks")]
    assert not mapping.passed and mapping.severity.value == "ERROR"
    payouts = evaluations[("payouts_match_platform", "marts/rpt_payout_breaks")]
    assert not payouts.passed and payouts.severity.value == "WARN"
    assert result.success
    assert any(e.asset_key and e.asset_key.path[-1] == "reconciliation_report"
               for e in result.get_asset_materialization_events())
    # the report of that run, written on demand, lists every break with its amount
    written = write_report(database_url, run_id, root=tmp_path / "reports")
    page = written.html_path.read_text()
    assert "structural finding(s)" in page and "The figures do not cover" in page
    for anomaly in listed:
        assert _entity(anomaly).split(":")[0] in page, anomaly
    with written.csv_path.open() as handle:
        assert len(list(csv.DictReader(handle))) == len(listed)


# One way to break the books per check: (check, SQL that breaks it, entity to be reported).
BROKEN = {
    # a file that says it held one record more than landed (a row lost after loading is
    # the loaders' nothing_lost check: test_orchestration)
    "files_reconcile": ("update raw._manifest set records_in_file = records_in_file + 1 "
                        "where file_name = (select min(file_name) from raw._manifest where "
                        "source = 'kiwify') returning file_name", "rpt_file_breaks"),
    # Hotmart's last file loaded five days ago: a stale feed
    "stale_sources": ("update raw._manifest set loaded_at = loaded_at - interval '5 days' "
                      "where source = 'hotmart' returning feed", None),
    "quarantined_records": ("insert into raw._quarantine (source, feed, file_name, file_sha256, "
                            "line_no, reason, raw_text) values ('pix', 'pix_orders', "
                            "'pix/x.csv', 'x', 7, 'test', 'x') returning 'pix/x.csv:7'", None),
    "raw_reaches_marts": ("delete from marts.fct_transactions where transaction_key = "
                          "(select min(transaction_key) from marts.fct_transactions "
                          "where platform = 'eduzz') returning platform_transaction_id",
                          "rpt_status_breaks"),
    "money_formulas": ("update marts.fct_transactions set distributable_amount = "
                       "distributable_amount + 1 where transaction_key = (select "
                       "max(transaction_key) from marts.fct_transactions where platform = "
                       "'hotmart') returning platform_transaction_id", "rpt_money_breaks"),
    "status_mapping": ("update intermediate.int_transaction_events_mapped set "
                       "is_unmapped_status = true, raw_status = 'NEW_STATUS' where record_hash "
                       "= (select min(record_hash) from intermediate.int_transaction_events_mapped"
                       ") returning platform_transaction_id", "rpt_status_breaks"),
    "payment_method_mapping": ("update intermediate.int_transaction_events_mapped set "
                               "is_unmapped_payment_method = true where record_hash = (select "
                               "max(record_hash) from intermediate.int_transaction_events_mapped"
                               ") returning platform_transaction_id", "rpt_status_breaks"),
    # the mart is a view over the intermediate table: the break goes into the table
    "status_history": ("update intermediate.int_transaction_status_changes set status = "
                        "'expired', is_valid_transition = false where status_change_key = "
                        "(select min(status_change_key) from marts.fct_transaction_status_history "
                        "where status = 'approved' and not is_current) "
                        "returning platform_transaction_id", "rpt_status_breaks"),
    "payouts_match_platform": ("update marts.fct_payouts set amount = amount + 0.01 where "
                               "payout_line_key = (select min(payout_line_key) from "
                               "marts.fct_payouts where line_type = 'sale') "
                               "returning platform_transaction_id", "rpt_payout_breaks"),
    "approved_unpaid": ("delete from marts.fct_payouts where payout_line_key = (select "
                        "payout_line_key from marts.fct_payouts where line_type = 'sale' and "
                        "platform = 'kiwify' order by payout_date, payout_line_key limit 1) "
                        "returning platform_transaction_id", "rpt_payout_breaks"),
    "paid_out_twice": ("insert into marts.fct_payouts select payout_line_key || '-again', "
                       "payout_id || '-again', platform, payout_date, line_type, "
                       "platform_transaction_id, transaction_key, currency_code, amount from "
                       "marts.fct_payouts where payout_line_key = (select max(payout_line_key) "
                       "from marts.fct_payouts where line_type = 'sale') "
                       "returning platform_transaction_id", "rpt_payout_breaks"),
    # a hold smaller than what was confirmed against it: a confirm above its hold
    "points_lifecycle": ("update marts.fct_points_authorizations set authorized_points = 1 "
                         "where authorization_id = (select min(authorization_id) from "
                         "marts.fct_points_authorizations where outcome = 'confirmed' and "
                         "confirmed_points > 1) returning authorization_id",
                         "rpt_points_breaks"),
    # a landed record edited by hand (the loaders' recount finds it: see below)
    "raw_intact": ("update raw.kiwify_webhooks set payload = regexp_replace(payload::text, "
                   "'^\\{', '{ ')::json where ctid = (select min(ctid) from "
                   "raw.kiwify_webhooks) returning _file_name || ':' || _line_no", None),
    "points_balance": ("update marts.dim_points_accounts set lowest_balance_points = -1 where "
                       "account_id = (select min(account_id) from marts.dim_points_accounts) "
                       "returning account_id", "rpt_points_breaks"),
    "redemption_points": ("update marts.fct_redemption_orders set total_points = total_points + 1"
                          " where order_number = (select min(order_number) from "
                          "marts.fct_redemption_orders where order_status = 'COMPLETED') "
                          "returning order_number", "rpt_points_breaks"),
    "voucher_refunds": ("update marts.fct_gift_card_ledger set amount = amount + 1 where "
                        "movement_type = 'voucher_credit' and order_id = (select min(order_id) "
                        "from marts.fct_gift_card_ledger where movement_type = 'voucher_credit'"
                        ") returning order_id", "rpt_giftcard_pix_breaks"),
    "pix_refund_once": ("create temp table again as select * from staging.stg_pix__payment_events "
                        "where raw_status = '11' limit 1; update again set source_event_id = "
                        "source_event_id || '-again'; insert into staging.stg_pix__payment_events "
                        "select * from again returning platform_transaction_id",
                        "rpt_giftcard_pix_breaks"),
    "giftcard_balance": ("update marts.fct_gift_cards set lowest_balance_amount = -5 where "
                         "card_id = (select min(card_id) from marts.fct_gift_cards) "
                         "returning card_id", "rpt_giftcard_pix_breaks"),
    "pix_split_base": ("update staging.stg_pix__payment_events set split_base_amount = "
                       "split_base_amount + 1 where payment_id = (select min(payment_id) from "
                       "staging.stg_pix__payment_events where has_split) "
                       "returning platform_transaction_id", "rpt_giftcard_pix_breaks"),
    "refund_above_paid": ("update marts.fct_transactions set refunded_amount = "
                          "customer_paid_amount + 10 where transaction_key = (select "
                          "min(transaction_key) from marts.fct_transactions where platform = "
                          "'kiwify' and refunded_amount > 0) returning platform_transaction_id",
                          "rpt_money_breaks"),
    "conflicting_redeliveries": (
        "create temp table again as select * from staging.stg_kiwify__order_events "
        "where event_name <> 'subscription_canceled' and platform_transaction_id is not null "
        "and event_at is not null order by record_hash limit 1; update again set record_hash "
        "= record_hash || '-again', raw_status = 'refunded'; "
        # what the mapped events' build counts for a redelivered event
        "update intermediate.int_transaction_events_mapped as m set deliveries = 2 "
        "from again where m.platform = 'kiwify' and m.source_event_id = again.source_event_id; "
        "insert into staging.stg_kiwify__order_events select * from again "
        "returning platform_transaction_id", "rpt_file_breaks"),
    "data_issues": ("update staging.stg_hotmart__purchase_events set data_issues = "
                    "'[{\"field\": \"data.purchase.price.value\", \"value\": \"1.234,56\", "
                    "\"reason\": \"not an amount\"}]' where record_hash = (select "
                    "min(record_hash) from staging.stg_hotmart__purchase_events) "
                    "returning source_file || ':' || source_line", "rpt_data_issues"),
    # Hotmart's sales/summary for the day of the first approved BRL sale says one sale more,
    # worth a million, than the marts hold (the summary as int_platform_totals keeps it)
    "platform_totals_match": (
        "insert into intermediate.int_platform_totals select md5('broken'), 'hotmart', d, d, "
        "'APPROVED', 'BRL', n + 1, v + 1000000, now(), 'broken' from (select order_date as d,"
        " count(*) as n, sum(offer_price) as v from marts.fct_transactions where platform = "
        "'hotmart' and status = 'approved' and currency_code = 'BRL' group by order_date "
        "order by order_date limit 1) as day returning platform || ' ' || period_first_day "
        "|| '..' || period_last_day || ' approved BRL'", "rpt_platform_totals_breaks"),
}


def test_every_check_has_a_broken_case():
    assert set(BROKEN) == {check.name for check in CHECKS}


def test_each_check_fails_on_its_broken_case(clean_copy, tmp_path):
    url = clean_copy
    targets = {}
    for name, (sql, _) in BROKEN.items():
        rows = query(url, sql)
        assert rows, f"{name}: the broken case changed nothing"
        targets[name] = rows[0][0]
    # what the loaders do at the start of a run: recount the feeds changed by hand
    from tallyhouse import ingest
    from tallyhouse.sources import FEEDS

    connection = psycopg2.connect(url)
    try:
        for feed in FEEDS:
            if ingest.rows_changed_since_recount(connection, feed):
                ingest.count_identity_breaks(connection, feed)
    finally:
        connection.close()
    rebuild = sorted({model for _, model in BROKEN.values() if model})
    # the marts were broken by hand, not by a load: the breaks models are recomputed whole,
    # as the weekly full pass does (a daily run recomputes what a load touched)
    done = run_dbt(["run", "--full-refresh", "--select", *rebuild], url=url, capture=True)
    assert done.returncode == 0, done.stdout[-3000:]
    outcomes = {o.check.name: o for o in run_checks(url)}
    for name, target in targets.items():
        outcome = outcomes[name]
        assert not outcome.passed and outcome.error is None, (name, outcome.error)
        entities = {b["entity_id"] for b in outcome.breaks}
        if name == "files_reconcile":
            assert target in entities, (name, entities)
        else:
            assert str(target) in entities, (name, target, entities)


@pytest.mark.parametrize("broken", ["select * from {batch} where no_such_column = 1"])
def test_a_check_that_cannot_run_fails_with_its_error(clean_build, broken):
    from dataclasses import replace

    url, _ = clean_build
    check = replace(CHECKS[3], query=broken)
    [outcome] = run_checks(url, [check])
    assert not outcome.passed and "no_such_column" in outcome.error


def test_a_settlement_statement_that_stops_arriving_is_a_stale_feed(clean_copy):
    """Every source that delivers has a freshness window: payouts, gift cards and
    redemptions too. Ten days without a payout statement is reported; a feed within its
    window is not."""
    from tallyhouse.reconciliation.checks import freshness_hours
    from tallyhouse.reconciliation.runner import run_directly
    from tallyhouse.sources import FEEDS

    windows = freshness_hours()
    # the platforms' APIs are asked by tallyhouse itself: a re-sync with nothing new lands
    # nothing, which is not a feed going quiet
    delivered = {feed.name for feed in FEEDS if feed.origin != "api"}
    assert delivered <= set(windows), "a feed without a window"
    stale = next(c for c in CHECKS if c.name == "stale_sources")
    assert run_directly(clean_copy, stale).passed
    query(clean_copy, "update raw._manifest set loaded_at = loaded_at - interval '10 days' "
                      "where source = 'payouts'")
    query(clean_copy, "update raw._manifest set loaded_at = loaded_at - interval '5 days' "
                      "where source in ('giftcards', 'redemptions')")
    outcome = run_directly(clean_copy, stale)
    found = {b["entity_id"]: b["detail"] for b in outcome.breaks}
    assert set(found) == {"payout_lines"}
    assert found["payout_lines"].startswith("no new payout_lines data for 10 days")
