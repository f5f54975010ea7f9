"""platform_totals_match (issue 25): the platforms' own totals (Hotmart and MyEduzz
sales/summary, landed by `tallyhouse backfill` against the loopback stand-ins) against the
marts, on a real embedded PostgreSQL with the real dbt project and `tallyhouse run`.

A clean backfill agrees with the marts: the check is silent. Then a newer fetch of a
summary (a later page, as the daily re-sync lands) says a period held one sale more than
the marts do: a finding per platform, with the value at stake in that currency."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from standins.eduzz import EduzzStandIn
from standins.hotmart import HotmartStandIn
from test_backfill import (
    EDUZZ_TOKEN,
    HOTMART_ID,
    HOTMART_SECRET,
    backfill,
    eduzz_env,
    hotmart_env,
)
from test_backfill_marts import _cli

from tallyhouse.sources import API_PAGE_NAME

from conftest import _scratch_database, query

BREAKS = """
select platform, entity_id, unit, expected, actual, amount_at_stake, expected_count,
       actual_count, detail
from marts.rpt_platform_totals_breaks order by platform, entity_id
"""


def _check_breaks(url: str) -> list[tuple]:
    return query(url, "select entity_id, amount_at_stake, coalesce(currency_code, unit) "
                      "from marts.rpt_reconciliation_breaks where check_name = "
                      "'platform_totals_match' and run_at = (select max(run_at) from "
                      "marts.rpt_reconciliation_breaks)")


def _later(name: str) -> str:
    """The same page name, fetched a minute later."""
    m = re.match(API_PAGE_NAME, name)
    fetched = datetime.strptime(m["fetched_at"], "%Y%m%dT%H%M%S%fZ") + timedelta(minutes=1)
    return name.replace(m["fetched_at"], fetched.strftime("%Y%m%dT%H%M%S%fZ"))


@pytest.fixture(scope="module")
def totals(pg_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("platform-totals")
    landing = root / "landing"
    with HotmartStandIn(HOTMART_ID, HOTMART_SECRET, sales=40) as hotmart, \
            EduzzStandIn(EDUZZ_TOKEN, sales=25) as eduzz, \
            _scratch_database(pg_server, "pt") as url:
        backfill(hotmart_env(hotmart), "hotmart", landing)
        backfill(eduzz_env(eduzz), "eduzz", landing, since=date(2026, 2, 1),
                 until=date(2026, 4, 30))
        first = _cli("run", "--landing", str(landing), home=root, url=url)
        state = {"first": first, "clean": query(url, BREAKS),
                 "platform_totals": query(url, "select platform, count(*) from "
                                               "intermediate.int_platform_totals group by 1 "
                                               "order by 1"),
                 "summaries": {feed: query(url, f"select count(*) from raw.{feed}")[0][0]
                               for feed in ("hotmart_sales_summary", "eduzz_sales_summary")},
                 "staged": {model: query(url, f"select count(*) from staging.{model}")[0][0]
                            for model in ("stg_hotmart__sales_summary",
                                          "stg_eduzz__sales_summary")},
                 "issues": query(url, "select feed, field, reason from marts.rpt_data_issues "
                                      "where feed in ('hotmart_sales_summary', "
                                      "'eduzz_sales_summary')")}
        state["clean_check"] = _check_breaks(url)
        # a newer fetch of one Hotmart summary: one APPROVED sale more, worth 97.00
        approved = next(s for s in hotmart.sales if s.status == "APPROVED")
        page = next(p for p in sorted((landing / "hotmart").glob(
            "hotmart_sales_summary-*-APPROVED-*.jsonl"))
            if approved.currency.encode() in p.read_bytes()
            and _covers(p.name, approved.order_date))
        record = json.loads(page.read_bytes())
        for item in record["response"]["items"]:
            if item["total_value"]["currency_code"] == approved.currency:
                item["total_items"] += 1
                item["total_value"]["value"] = round(item["total_value"]["value"] + 97.0, 2)
        (page.parent / _later(page.name)).write_bytes(
            json.dumps(record, separators=(",", ":")).encode() + b"\n")
        # a newer MyEduzz summary of paid sales: 197.00 less than the marts hold
        epage = next(p for p in sorted((landing / "eduzz").glob(
            "eduzz_sales_summary-*-paid-*.jsonl"))
            if json.loads(p.read_bytes())["response"]["total"]["value"] > 197)
        erecord = json.loads(epage.read_bytes())
        erecord["response"]["total"]["value"] = round(
            erecord["response"]["total"]["value"] - 197.0, 2)
        (epage.parent / _later(epage.name)).write_bytes(
            json.dumps(erecord, separators=(",", ":")).encode() + b"\n")
        second = _cli("run", "--landing", str(landing), home=root, url=url)
        state.update(second=second, broken=query(url, BREAKS), broken_check=_check_breaks(url),
                     approved=approved, page=page, epage=epage)
        yield state


def _covers(name: str, order_ms: int) -> bool:
    m = re.match(API_PAGE_NAME, name)
    first = datetime.strptime(m["first_day"], "%Y%m%d").date()
    last = datetime.strptime(m["last_day"], "%Y%m%d").date()
    # the business day in São Paulo (UTC-3, no daylight saving time since 2019)
    day = (datetime.fromtimestamp(order_ms / 1000, UTC) - timedelta(hours=3)).date()
    return first <= day <= last


def test_every_summary_record_is_read_and_none_is_a_data_issue(totals):
    assert totals["first"].returncode == 0, (totals["first"].stdout[-4000:]
                                             + totals["first"].stderr[-2000:])
    assert totals["summaries"]["hotmart_sales_summary"] > 0
    assert totals["staged"] == {"stg_hotmart__sales_summary":
                                totals["summaries"]["hotmart_sales_summary"],
                                "stg_eduzz__sales_summary":
                                totals["summaries"]["eduzz_sales_summary"]}
    assert totals["issues"] == []
    assert dict(totals["platform_totals"]).keys() == {"hotmart", "eduzz"}


def test_a_clean_backfill_agrees_with_the_platforms_totals(totals):
    assert totals["clean"] == []
    assert totals["clean_check"] == []


def test_a_newer_summary_that_disagrees_is_a_finding_with_its_amount_at_stake(totals):
    second = totals["second"]
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    found = {(row[0], row[2]): row for row in totals["broken"]}
    assert set(found) == {("hotmart", totals["approved"].currency), ("eduzz", "BRL")}, \
        totals["broken"]
    hotmart = found["hotmart", totals["approved"].currency]
    assert hotmart[1].startswith("hotmart ") and " approved " in hotmart[1]
    assert hotmart[5] == Decimal("97.00") and hotmart[3] - hotmart[4] == Decimal("97.00")
    assert hotmart[6] == hotmart[7] + 1
    eduzz = found["eduzz", "BRL"]
    assert eduzz[5] == Decimal("197.00") and eduzz[4] - eduzz[3] == Decimal("197.00")
    assert eduzz[6] is None and "no count of" in eduzz[8]
    # the check reports them, each with its amount at stake
    reported = {(entity, stake, unit) for entity, stake, unit in totals["broken_check"]}
    assert reported == {(hotmart[1], Decimal("97.00"), hotmart[2]),
                        (eduzz[1], Decimal("197.00"), "BRL")}
