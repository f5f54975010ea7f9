"""The Streamlit dashboards: every page through AppTest (built, filtered, empty warehouse),
their figures against SQL and the generator's truth, and every page in headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.ui import pct
from tallyhouse.money import format_amount
from tallyhouse.reconciliation.checks import CHECKS

from conftest import ARTIFACTS, chromium_path, query, truth

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboards" / "app.py")
PAGES = ["sales", "refunds", "payment_methods", "reconciliation", "subscriptions", "loyalty"]


def _open(page: str, setup=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if setup:
        setup(at)
    at.switch_page(f"app_pages/{page}.py").run()
    return at


def _assert_rendered(at: AppTest, page: str) -> None:
    assert not at.exception, (page, [e.value for e in at.exception])
    assert not at.error, (page, [e.body for e in at.error])
    assert at.title and at.title[0].value, page


@pytest.fixture
def built(clean_build, monkeypatch) -> str:
    url, _ = clean_build
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", url)
    from dashboards import queries
    from tallyhouse import roles

    roles.ensure_roles(url)  # the dashboards connect as tallyhouse_dashboard

    queries.clear_caches()
    return url


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_built_marts(built, page):
    at = _open(page)
    _assert_rendered(at, page)
    if page != "reconciliation":
        assert at.metric, f"{page} shows its figures"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_filters(built, page):
    def narrow(at):
        at.sidebar.multiselect(key="filter_platforms").set_value(["kiwify"])
        at.sidebar.selectbox(key="filter_currency").set_value("USD")
        at.run()

    at = _open(page, narrow)
    _assert_rendered(at, page)
    # the filters persist across pages
    assert at.session_state["filter_platforms"] == ["kiwify"]
    assert at.session_state["tallyhouse_filters"].currency == "USD"


def test_a_selection_without_data_says_so(built):
    def nothing(at):
        at.sidebar.multiselect(key="filter_platforms").set_value(["pix"])
        at.sidebar.selectbox(key="filter_currency").set_value("USD")  # PIX is BRL only
        at.run()

    for page in ("sales", "refunds", "payment_methods"):
        at = _open(page, nothing)
        _assert_rendered(at, page)
        assert any("No " in info.body and "selection" in info.body for info in at.info), page


def _table_with(at: AppTest, column: str):
    """The page's table that has this column (AppTest does not keep a table's key)."""
    [table] = [frame.value for frame in at.dataframe if column in frame.value.columns]
    return table


def test_the_reconciliation_page_shows_a_run_as_finance_reads_it(clean_copy, monkeypatch,
                                                                  tmp_path):
    """Clean books: a success line, times in the business time zone, human column names, a
    whole-number breaks axis. A transaction lost from the marts: an error that says what the
    figures do not cover, the check listed with its breaks."""
    from datetime import UTC, datetime

    from dashboards import queries
    from tallyhouse import roles
    from tallyhouse.dbt import run_dbt
    from tallyhouse.reconciliation.runner import run_checks, save

    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", clean_copy)
    roles.ensure_roles(clean_copy)
    queries.clear_caches()
    at_noon_utc = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
    save(clean_copy, "clean-run", at_noon_utc, run_checks(clean_copy))
    at = _open("reconciliation")
    _assert_rendered(at, "reconciliation")
    assert [s.body for s in at.success] == [
        f"The latest run (20/11/2026 09:00) passed all {len(CHECKS)} checks: the books "
        "agree."]
    checks = _table_with(at, "What it checks")
    assert list(checks.columns) == ["Family", "Check", "Severity", "Result", "Breaks",
                                    "What it checks"]

    query(clean_copy, "delete from marts.fct_transactions where transaction_key = "
                      "(select min(transaction_key) from marts.fct_transactions)")
    assert run_dbt(["run", "--full-refresh", "--select", "rpt_status_breaks"],
                   url=clean_copy, capture=True).returncode == 0
    save(clean_copy, "broken-run", datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
         run_checks(clean_copy))
    queries.clear_caches()
    at = _open("reconciliation")
    assert not at.exception
    [error] = [e.body for e in at.error]
    assert "The latest run (21/11/2026 09:00) found 1 structural finding(s)" in error
    assert "do not cover everything that was delivered" in error
    checks = _table_with(at, "What it checks")
    lost = checks[checks["Check"] == "raw_reaches_marts"].iloc[0]
    assert (lost["Result"], lost["Breaks"]) == ("ERROR", 1)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_warehouse(database_url, page):
    from dashboards import queries
    from tallyhouse.roles import ensure_roles

    # the reader roles are the server's, not the database's: made here, not left to
    # whichever test ran before on this server
    ensure_roles(database_url)
    queries.clear_caches()
    at = _open(page)
    _assert_rendered(at, page)
    assert any("make run" in info.body for info in at.info), page


def test_refund_rate_per_product_equals_sql_and_the_truth(built, small_landing):
    at = _open("refunds", _all_history)
    shown = next(df.value for df in at.dataframe if "Product" in df.value.columns)
    # the table keeps numbers (it sorts by value); read them as the page writes them
    shown = dict(zip(shown["Product"], [pct(v) for v in shown["Refund rate"]], strict=True))
    # the same rate from the transactions, all currencies (a count rate)
    from_sql = {name: pct(Decimal(refunds) / approved) for name, refunds, approved in query(
        built, "select p.name, count(*) filter (where t.refund_kind in ('refund', "
               "'partial_refund')), count(*) filter (where t.has_been_approved) "
               "from marts.fct_transactions as t join marts.dim_products as p using "
               "(product_key) group by 1 having count(*) filter (where t.has_been_approved) > 0")}
    # the refunds page is in the chosen currency (BRL by default): compare per currency
    brl = {name: pct(Decimal(refunds) / approved) for name, refunds, approved in query(
        built, "select p.name, count(*) filter (where t.refund_kind in ('refund', "
               "'partial_refund')), count(*) filter (where t.has_been_approved) "
               "from marts.fct_transactions as t join marts.dim_products as p using "
               "(product_key) where t.currency_code = 'BRL' group by 1 "
               "having count(*) filter (where t.has_been_approved) > 0")}
    assert shown == brl
    assert set(from_sql) >= set(shown)
    # and, summed over currencies, the truth's final statuses give the same rates
    approved_states = {"approved", "complete", "disputed", "refunded", "partially_refunded",
                       "chargeback"}
    by_truth = {}
    for name, states in truth(small_landing)["final_status_by_product"].items():
        approved = sum(n for s, n in states.items() if s in approved_states)
        if approved:
            refunded = states.get("refunded", 0) + states.get("partially_refunded", 0)
            by_truth[name] = pct(Decimal(refunded) / approved)
    assert from_sql == by_truth


def _all_history(at: AppTest) -> None:
    at.sidebar.selectbox(key="filter_preset").set_value("All")
    at.run()


def test_sales_figures_equal_the_truth(built, small_landing):
    at = _open("sales", _all_history)
    metrics = {m.label: m.value for m in at.metric}
    sales = truth(small_landing)["sales"]
    gross = sum(Decimal(by_currency["BRL"]["approved.offer_price"])
                for by_currency in sales.values() if "BRL" in by_currency)
    net = sum(Decimal(by_currency["BRL"]["approved.producer_net_amount"])
              for by_currency in sales.values() if "BRL" in by_currency)
    count = sum(by_currency["BRL"]["approved.count"] for by_currency in sales.values()
                if "BRL" in by_currency)
    assert metrics["Gross revenue (offer price)"] == format_amount(gross, "BRL")
    assert metrics["Producer net"] == format_amount(net, "BRL")
    assert metrics["Approved transactions"] == f"{count:,}".replace(",", ".")


def test_payment_method_shares_equal_sql(built):
    at = _open("payment_methods", _all_history)
    table = next(df.value for df in at.dataframe if "Payment method" in df.value.columns)
    rows = query(built, "select payment_method, count(*) filter (where has_been_approved), "
                        "count(*) from marts.fct_transactions where currency_code = 'BRL' "
                        "group by 1")
    approved_total = sum(r[1] for r in rows)
    want = {m: (pct(Decimal(a) / approved_total), pct(Decimal(a) / n)) for m, a, n in rows}
    from dashboards.ui import words

    want = {words(m): v for m, v in want.items()}  # codes are shown in words
    got = {m: (pct(share), pct(rate)) for m, share, rate in zip(
        table["Payment method"], table["Count share"], table["Approval rate"], strict=True)}
    assert got == want


# ------------------------------------------------------------------------ a real browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_page_in_headless_chromium(built, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = chromium_path()
    from tallyhouse_cli.main import dashboard_command

    port = _free_port()
    server = subprocess.Popen(dashboard_command(port), cwd=ROOT, env={**os.environ},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    timings = {}
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=[
                "--no-sandbox", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            deadline = time.monotonic() + 90
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=5000)
                    break
                except Exception:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(1)
            for name in PAGES:
                url = f"http://127.0.0.1:{port}/" + ("" if name == "sales" else name)
                started = time.monotonic()
                page.goto(url)
                page.wait_for_selector("h1", timeout=60000)
                page.wait_for_selector("[data-testid='stSidebar']", timeout=60000)
                # wait until Streamlit has finished the run (no running indicator)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                    timeout=60000)
                # tables draw on a canvas once their data arrived
                page.wait_for_function(
                    "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"]')]"
                    ".every(el => el.querySelector('canvas'))", timeout=60000)
                timings[name] = time.monotonic() - started
                assert page.locator("[data-testid='stException']").count() == 0, name
                heading = page.locator("h1").first.inner_text()
                assert heading.strip(), name
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            # a shared address opens the same view: the preset in the sidebar, the figures
            page.goto(f"http://127.0.0.1:{port}/?period=last-7-days&platform=hotmart")
            page.wait_for_selector("h1", timeout=60000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                timeout=60000)
            page.get_by_text("Changes are against the 7 days before").first.wait_for(
                timeout=60000)
            page.locator("[data-testid='stSidebar']").get_by_text("Hotmart").first.wait_for(
                timeout=60000)
            assert "period=last-7-days" in page.url
            page.screenshot(path=str(ARTIFACTS / "sales-last-7-days.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    print("page load seconds:", {k: round(v, 2) for k, v in timings.items()})
    assert set(timings) == set(PAGES)


def test_the_exposure_lists_exactly_the_marts_the_pages_read():
    import json
    import re

    from tallyhouse.dbt import ensure_manifest

    root = Path(__file__).resolve().parents[1]
    sources = [root / "dashboards" / "queries.py", *(root / "dashboards").rglob("*.py")]
    read = {name for path in sources
            for name in re.findall(r"marts\.([a-z_]+)", path.read_text())}
    # the reconciliation tables are written by the checks, not by dbt
    read -= {"rpt_reconciliation_summary", "rpt_reconciliation_breaks",
             "rpt_reconciliation_stakes"}
    manifest = json.loads(ensure_manifest().read_text())
    exposure = manifest["exposures"]["exposure.tallyhouse.finance_dashboards"]
    listed = {node.rsplit(".", 1)[-1] for node in exposure["depends_on"]["nodes"]}
    assert listed == read


# ------------------------------------------------------------------------ issue 26: finance can act

def test_the_default_is_the_last_30_days_and_presets_follow_the_data(built):
    from datetime import timedelta

    from dashboards.ui import PERIOD_KEY, preset_range

    at = _open("sales")
    _assert_rendered(at, "sales")
    span = at.session_state[PERIOD_KEY]
    f = at.session_state["tallyhouse_filters"]
    assert at.session_state["filter_preset"] == "Last 30 days"
    assert (f.start, f.end) == (span.anchor - timedelta(days=30),
                                span.anchor - timedelta(days=1))
    assert dict(at.query_params) == {}, "the default view needs no parameter"
    # every KPI says how it changed against the period of the same length before
    assert all(m.delta for m in at.metric), [(m.label, m.delta) for m in at.metric]
    assert at.caption[0].value.startswith("Data up to ")  # the freshness line
    for preset in ("Yesterday", "Last 7 days", "Month to date", "Last month", "Year to date",
                   "All"):
        at.sidebar.selectbox(key="filter_preset").set_value(preset).run()
        _assert_rendered(at, preset)
        f = at.session_state["tallyhouse_filters"]
        assert (f.start, f.end) == preset_range(preset, span), preset
        if preset != "All":
            assert _param(at, "period") == [preset.lower().replace(" ", "-")]
    # a custom range and the filters go into the address, and a shared address opens them
    at.sidebar.date_input(key="filter_dates").set_value((span.first, span.first + timedelta(
        days=6))).run()
    at.sidebar.multiselect(key="filter_platforms").set_value(["kiwify"]).run()
    assert at.session_state["filter_preset"] == "Custom"
    shared = {k: _param(at, k) for k in at.query_params}
    assert shared["from"] == [span.first.isoformat()] and shared["platform"] == ["kiwify"]
    again = AppTest.from_file(APP, default_timeout=120)
    for key, values in shared.items():
        again.query_params[key] = values if len(values) > 1 else values[0]
    again.run()
    f = again.session_state["tallyhouse_filters"]
    assert (f.start, f.end, f.platforms) == (span.first, span.first + timedelta(days=6),
                                             ("kiwify",))


def _param(at: AppTest, key: str) -> list[str]:
    value = at.query_params[key]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def test_an_implausible_date_does_not_stretch_the_default_span():
    from datetime import date

    from dashboards.ui import preset_range, robust_span

    days = [(date(1970, 1, 2), 1)] + [(date(2026, 5, d), 50) for d in range(1, 31)]
    span = robust_span(days + [(date(2031, 1, 1), 3)], date(2026, 12, 3))
    assert (span.first, span.last, span.earliest) == (date(2026, 5, 1), date(2026, 5, 30),
                                                      date(1970, 1, 2))
    assert preset_range("All", span) == (date(2026, 5, 1), date(2026, 5, 30))
    assert span.anchor == date(2026, 5, 31)  # the data ends before today: count back from it
    live = robust_span(days + [(date(2026, 12, 2), 9), (date(2026, 12, 3), 4)],
                       date(2026, 12, 3))
    assert live.anchor == date(2026, 12, 3)
    assert preset_range("Yesterday", live) == (date(2026, 12, 2), date(2026, 12, 2))
    assert preset_range("Last month", live) == (date(2026, 11, 1), date(2026, 11, 30))
    assert preset_range("Month to date", live) == (date(2026, 12, 1), date(2026, 12, 3))
    assert preset_range("Year to date", live) == (date(2026, 1, 1), date(2026, 12, 3))
    # a history that really starts long ago keeps its start
    old = robust_span([(date(2020, 1, 1), 500)] + days[1:], date(2026, 12, 3))
    assert old.first == date(2020, 1, 1)


def test_money_stays_numeric_sorts_by_value_and_exports_numbers(built):
    import csv
    import io
    import re
    import zipfile

    from dashboards.ui import Columns, csv_bytes, excel_bytes, table_data

    at = _open("sales", _all_history)
    by_product = _table_with(at, "Product")
    assert by_product["Gross amount"].dtype.kind == "f", "amounts are numbers, not text"
    ordered = by_product.sort_values("Gross amount", ascending=False)["Gross amount"].tolist()
    assert ordered == sorted(ordered, reverse=True) and len(ordered) > 2
    # CSV: numbers as numbers; Excel: numeric cells with a currency format
    raw = query(built, "select p.name as product, sum(s.approved_transactions), "
                       "sum(s.gross_amount) from marts.agg_daily_sales s join "
                       "marts.dim_products p using (product_key) where currency_code = 'BRL' "
                       "group by 1")
    import pandas as pd

    frame = pd.DataFrame(raw, columns=["product", "approved_transactions", "gross_amount"])
    spec = Columns(money=("gross_amount",), counts=("approved_transactions",))
    data = table_data(frame, spec)
    rows = list(csv.DictReader(io.StringIO(csv_bytes(data).decode())))
    assert rows and all(re.fullmatch(r"-?\d+(\.\d+)?", r["Gross amount"]) for r in rows)
    book = zipfile.ZipFile(io.BytesIO(excel_bytes(data, spec, "BRL", frame)))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    cells = re.findall(r'<c r="C(\d+)"([^>]*)>(.*?)</c>', sheet)
    numeric = [c for c in cells if int(c[0]) > 1]
    assert numeric and all('t="s"' not in attrs for _, attrs, _ in numeric)
    styles = book.read("xl/styles.xml").decode()
    assert "R$" in styles and "#,##0.00" in styles


def test_churn_is_a_rate_of_the_subscriptions_at_risk(built):
    at = _open("subscriptions", _all_history)
    _assert_rendered(at, "subscriptions")
    table = _table_with(at, "Churn rate")
    assert (table["Churn rate"].dropna() <= 1).all(), "no month above 100 %"
    expected = {month: churned / (start + started) if start + started else None
                for month, start, started, churned in query(
                    built, "select month, sum(active_at_start), sum(started), sum(churned) "
                           "from marts.agg_monthly_subscriptions where currency_code = 'BRL' "
                           "group by 1")}
    for month, rate in zip(table["Month"], table["Churn rate"], strict=True):
        want = expected[month.date()]
        assert (want is None and rate != rate) or abs(float(want) - rate) < 1e-9
    assert any("subscriptions at risk" in c.value for c in at.caption)
    # labels in words, months in Portuguese
    assert not [m.label for m in at.metric if "_" in m.label]
