"""The semantic layer: every metric answers through `tallyhouse metrics` on a built
warehouse and equals the generator's truth or mart-level SQL, per currency; the saved
queries run; the dashboards show the same numbers; `tallyhouse docs` serves the site."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import pytest

from tallyhouse import metrics

from conftest import query, truth

METRICS = ["gross_revenue", "producer_net", "platform_fees", "partner_commissions",
           "approved_transactions", "average_ticket", "approval_rate", "refund_rate",
           "chargeback_rate", "refunded_amount", "active_subscriptions",
           "monthly_recurring_amount", "churn_rate", "points_liability"]


@pytest.fixture
def warehouse(clean_build, monkeypatch) -> str:
    url, _ = clean_build
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", url)
    return url


def _by(answer: metrics.Answer, *keys: str) -> dict:
    index = [answer.columns.index(k) for k in keys]
    return {tuple(row[i] for i in index) if len(index) > 1 else row[index[0]]: dict(
        zip(answer.columns, row, strict=True)) for row in answer.rows}


def test_every_metric_is_defined_and_documented(warehouse):
    defined = dict(metrics.metric_names())
    for name in METRICS:
        assert name in defined, name
        assert len(defined[name]) > 20, f"{name} needs its exact definition"


def test_sales_metrics_equal_the_truth_per_currency(warehouse, small_landing):
    answer = metrics.query(["gross_revenue", "producer_net", "approved_transactions",
                            "average_ticket"], ["platform", "currency"])
    got = _by(answer, "transaction__platform", "transaction__currency_code")
    sales = truth(small_landing)["sales"]
    assert len(got) == sum(len(by_currency) for by_currency in sales.values())
    for platform, by_currency in sales.items():
        for currency, figures in by_currency.items():
            row = got[(platform, currency)]
            assert row["gross_revenue"] == Decimal(figures["approved.offer_price"])
            assert row["producer_net"] == Decimal(figures["approved.producer_net_amount"])
            assert row["approved_transactions"] == figures["approved.count"]
            # numeric division (16 decimals in PostgreSQL), never through floating point
            assert isinstance(row["average_ticket"], Decimal)
            expected = Decimal(figures["approved.offer_price"]) / figures["approved.count"]
            assert abs(row["average_ticket"] - expected) < Decimal("1e-12")


@pytest.mark.parametrize("currency,platforms", [("BRL", ()), ("USD", ("hotmart",)),
                                                ("BRL", ("kiwify", "pix"))])
def test_money_and_rate_metrics_equal_mart_sql(warehouse, currency, platforms):
    where = []
    if platforms:
        listed = ", ".join(f"'{p}'" for p in platforms)
        where.append(f"{{{{ Dimension('transaction__platform') }}}} in ({listed})")
    answer = metrics.query(
        ["platform_fees", "partner_commissions", "refunded_amount", "approval_rate",
         "refund_rate", "chargeback_rate"], ["payment_method"], where=where,
        currency=currency)
    got = _by(answer, "transaction__payment_method")
    rows = query(warehouse, """
        select payment_method,
               sum(platform_fee_amount) filter (where has_been_approved),
               sum(partner_commission_amount) filter (where has_been_approved),
               coalesce(sum(refunded_amount) filter (
                   where refund_kind in ('refund', 'partial_refund')), 0),
               count(*) filter (where has_been_approved), count(*),
               count(*) filter (where refund_kind in ('refund', 'partial_refund')),
               count(*) filter (where refund_kind = 'chargeback')
        from marts.fct_transactions
        where currency_code = %s and (%s or platform = any(%s))
        group by 1""", (currency, not platforms, list(platforms)))
    assert rows and set(got) == {r[0] for r in rows}
    for method, fees, commissions, refunded, approved, total, refunds, chargebacks in rows:
        row = got[method]
        assert row["platform_fees"] == (fees or 0)
        assert row["partner_commissions"] == (commissions or 0)
        assert row["refunded_amount"] == refunded
        assert row["approval_rate"] == pytest.approx(approved / total)
        if approved:
            assert row["refund_rate"] == pytest.approx(refunds / approved)
            assert row["chargeback_rate"] == pytest.approx(chargebacks / approved)


def test_subscription_and_points_metrics_equal_mart_sql(warehouse):
    by_month = _by(metrics.query(["active_subscriptions", "monthly_recurring_amount",
                                  "churn_rate"], ["month"], currency="BRL"),
                   "metric_time__month")
    rows = query(warehouse, """
        select month, sum(active_at_end), sum(monthly_recurring_amount),
               sum(churned)::numeric / nullif(sum(active_at_start) + sum(started), 0)
        from marts.agg_monthly_subscriptions where currency_code = 'BRL' group by 1""")
    assert rows and len(by_month) == len(rows)
    for month, active, recurring, churn in rows:
        row = next(v for k, v in by_month.items() if k.date() == month)
        assert row["active_subscriptions"] == active
        assert row["monthly_recurring_amount"] == recurring
        assert row["churn_rate"] == pytest.approx(float(churn or 0)) or churn is None
    # without a month: the last month's subscriptions, not the sum over the months
    last = max(rows)
    total = metrics.query(["active_subscriptions"], [], currency="BRL")
    assert total.rows == [(last[1],)]

    liability = metrics.query(["points_liability"], [])
    balance = query(warehouse, "select sum(balance_points) from marts.dim_points_accounts")
    assert liability.rows[0][0] == balance[0][0] != 0


def test_money_is_never_added_across_currencies(warehouse):
    answer = metrics.query(["gross_revenue", "refund_rate"], ["platform"])
    assert "transaction__currency_code" in answer.columns
    assert answer.note and "never added across currencies" in answer.note
    currencies = {row[answer.columns.index("transaction__currency_code")]
                  for row in answer.rows}
    assert len(currencies) > 1
    # counts and shares need no currency
    plain = metrics.query(["approved_transactions", "refund_rate"], ["platform"])
    assert plain.note is None and "transaction__currency_code" not in plain.columns
    with pytest.raises(metrics.MetricsError, match="ISO 4217"):
        metrics.query(["gross_revenue"], [], currency="BR'L")


@pytest.mark.parametrize("name", ["sales_by_status", "performance_by_platform",
                                  "payment_method_distribution", "refund_rate_by_product"])
def test_saved_queries_run(warehouse, name):
    answer = metrics.query(saved_query=name)
    assert answer.rows and answer.columns


def test_saved_refund_rate_by_product_equals_the_analysis(warehouse):
    got = _by(metrics.query(saved_query="refund_rate_by_product"), "product__product_name")
    rows = query(warehouse, """
        select p.name, count(*) filter (where t.has_been_approved),
               count(*) filter (where t.refund_kind in ('refund', 'partial_refund'))
        from marts.fct_transactions as t join marts.dim_products as p using (product_key)
        group by 1""")
    for name, approved, refunds in rows:
        assert got[name]["approved_transactions"] == approved
        assert got[name]["refunds"] == refunds


def test_the_cli_prints_a_table_and_refuses_an_unknown_metric(warehouse):
    env = dict(os.environ, TALLYHOUSE_DATABASE_URL=warehouse)
    cli = [sys.executable, "-m", "tallyhouse_cli", "metrics", "query"]
    done = subprocess.run([*cli, "--metrics", "gross_revenue,refund_rate", "--group-by",
                           "platform"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("transaction__platform") for line in lines)
    assert any(line.startswith("hotmart") for line in lines)
    bad = subprocess.run([*cli, "--metrics", "gross_revenu"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode == 2 and "gross_revenu" in bad.stdout


def test_dashboard_figures_equal_the_metrics(warehouse):
    from dashboards import queries
    from tallyhouse import roles

    roles.ensure_roles(warehouse)
    queries.clear_caches()
    span = query(warehouse, "select min(order_date), max(order_date) from marts.fct_transactions")
    start, end = span[0]
    for currency, platforms in (("BRL", ()), ("USD", ("hotmart", "kiwify"))):
        f = queries.Filters(start=start, end=end, currency=currency, platforms=platforms)
        where = [f"{{{{ TimeDimension('metric_time', 'day') }}}} between '{start}' and '{end}'"]
        if platforms:
            listed = ", ".join(f"'{p}'" for p in platforms)
            where.append(f"{{{{ Dimension('transaction__platform') }}}} in ({listed})")
        totals = queries.sales_totals(f).iloc[0]
        answer = metrics.query(["approved_transactions", "gross_revenue", "platform_fees",
                                "partner_commissions", "producer_net"], [], where=where,
                               currency=currency)
        row = dict(zip(answer.columns, answer.rows[0], strict=True))
        assert Decimal(str(totals["gross_amount"])) == row["gross_revenue"]
        assert Decimal(str(totals["net_amount"])) == row["producer_net"]
        assert Decimal(str(totals["fee_amount"])) == row["platform_fees"]
        assert Decimal(str(totals["commission_amount"])) == row["partner_commissions"]
        assert int(totals["approved_transactions"]) == row["approved_transactions"]

        tiles = queries.refund_rates_by(f, "platform").set_index("platform")
        rates = _by(metrics.query(["refund_rate", "chargeback_rate", "refunded_amount"],
                                  ["platform"], where=where, currency=currency),
                    "transaction__platform")
        assert set(tiles.index) <= set(rates)
        for platform, tile in tiles.iterrows():
            assert float(tile["refund_rate"]) == pytest.approx(rates[platform]["refund_rate"])
            assert float(tile["chargeback_rate"]) == pytest.approx(
                rates[platform]["chargeback_rate"])
            assert Decimal(str(tile["refunded_amount"])) == rates[platform]["refunded_amount"]

        methods = queries.payment_methods(f).set_index("payment_method")
        approval = _by(metrics.query(["approval_rate", "gross_revenue"], ["payment_method"],
                                     where=where, currency=currency),
                       "transaction__payment_method")
        for method, tile in methods.iterrows():
            assert float(tile["approval_rate"]) == pytest.approx(approval[method]["approval_rate"])
            assert Decimal(str(tile["gross_amount"])) == approval[method]["gross_revenue"]

    # the subscriptions page and the points tile
    f = queries.Filters(start=start, end=end, currency="BRL")
    monthly = queries.subscriptions_monthly(f)
    by_month = _by(metrics.query(["active_subscriptions", "monthly_recurring_amount",
                                  "churn_rate"], ["month"], currency="BRL"),
                   "metric_time__month")
    assert len(monthly) > 0
    for _, tile in monthly.iterrows():
        row = next(v for k, v in by_month.items() if k.date() == tile["month"])
        assert int(tile["active_at_end"]) == row["active_subscriptions"]
        assert Decimal(str(tile["monthly_recurring_amount"])) == row["monthly_recurring_amount"]
        if tile["churn_rate"] is not None and tile["churn_rate"] == tile["churn_rate"]:
            assert float(tile["churn_rate"]) == pytest.approx(row["churn_rate"])
    liability = metrics.query(["points_liability"], [])
    assert int(queries.points_liability().iloc[0]["balance_points"]) == liability.rows[0][0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_docs_serves_a_site_that_lists_the_marts(warehouse):
    port = _free_port()
    env = dict(os.environ, TALLYHOUSE_DATABASE_URL=warehouse)
    server = subprocess.Popen([sys.executable, "-m", "tallyhouse_cli", "docs", "--port",
                               str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        page = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert page is not None, server.stdout.read() if server.poll() is not None else ""
        assert "dbt" in page.lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/catalog.json", timeout=5) as r:
            catalog = r.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/manifest.json", timeout=5) as r:
            manifest = r.read().decode()
        for mart in ("fct_transactions", "fct_refunds", "agg_daily_sales", "dim_points_accounts"):
            assert f"model.tallyhouse.{mart}" in catalog
        assert "metric.tallyhouse.refund_rate" in manifest
        assert "semantic_model.tallyhouse.transactions" in manifest
    finally:
        # the site's content is what this test is about: a server slow to go on a loaded CI
        # machine is killed rather than failing it (SIGTERM stops it at once otherwise)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def test_an_unbuilt_warehouse_says_what_to_do(database_url, monkeypatch):
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", database_url)
    with pytest.raises(metrics.MetricsError, match="tallyhouse run"):
        metrics.query(["refund_rate"], ["platform"])
