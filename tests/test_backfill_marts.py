"""Backfilled sales through the whole job (issue 25): `tallyhouse backfill` against the
loopback stand-ins of the Hotmart, Kiwify and Eduzz APIs (tests/standins/), then
`tallyhouse run` on a real embedded PostgreSQL with the real dbt project. Each API record is
a snapshot of its sale when fetched: the marts hold each sale once with the stand-in's
status, price, fee, commissions and net; a refund webhook after the backfill leaves one
transaction, refunded; a damaged API record is a data issue, not a stopped run; no API
record is left unread."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from standins.eduzz import EduzzStandIn
from standins.hotmart import HotmartStandIn
from standins.kiwify import KiwifyStandIn
from test_backfill import (
    EDUZZ_TOKEN,
    HOTMART_ID,
    HOTMART_SECRET,
    KIWIFY_ACCOUNT,
    KIWIFY_ID,
    KIWIFY_SECRET,
    backfill,
    eduzz_env,
    hotmart_env,
    kiwify_env,
)

from conftest import REFERENCE, _scratch_database, query

ROOT = Path(__file__).resolve().parents[1]
API_FEEDS = {"hotmart_sales_history": "stg_hotmart__sales_history",
             "hotmart_sales_commissions": "stg_hotmart__sales_commissions",
             "kiwify_sales": "stg_kiwify__sales",
             "eduzz_sales": "stg_eduzz__sales"}
STATUS = {
    "hotmart": {"APPROVED": "approved", "COMPLETE": "complete", "REFUNDED": "refunded",
                "CHARGEBACK": "refunded", "PROTESTED": "disputed", "CANCELLED": "cancelled",
                "PRINTED_BILLET": "awaiting_payment", "WAITING_PAYMENT": "awaiting_payment",
                "EXPIRED": "expired", "PARTIALLY_REFUNDED": "partially_refunded"},
    "kiwify": {"paid": "approved", "refunded": "refunded", "chargedback": "refunded",
               "refused": "declined", "waiting_payment": "awaiting_payment",
               "pending_refund": "approved", "refund_requested": "approved"},
    "eduzz": {"paid": "approved", "refunded": "refunded", "canceled": "cancelled",
              "open": "awaiting_payment", "waiting_refund": "approved", "expired": "expired",
              "recovering": "awaiting_payment"},
}
MARTS = """
select platform, platform_transaction_id, status, currency_code, offer_price,
       platform_fee_amount, partner_commission_amount, producer_net_amount,
       reported_producer_amount
from marts.fct_transactions
"""


def _cents(value: float | int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def expected_marts(hotmart, kiwify, eduzz) -> dict[tuple, tuple]:
    """(platform, id) -> (status, currency, price, fee, partners, net, producer line)."""
    rows = {}
    for s in hotmart.sales:
        fee = _cents(s.fee)
        price = _cents(s.price)
        rows["hotmart", s.transaction] = (STATUS["hotmart"][s.status], s.currency, price, fee,
                                          _cents(0), price - fee, price - fee)
    for s in kiwify.sales:
        full = json.loads(s.full)
        payment = full["payment"]
        partners = sum(p["net_amount_split"] for p in full["revenue_partners"]) + (
            (full["affiliate_commission"] or {}).get("amount") or 0)
        net = payment["net_amount"] - partners
        rows["kiwify", s.id] = (STATUS["kiwify"][s.status], "BRL",
                                _cents(payment["charge_amount"] / 100),
                                _cents(payment["fee"] / 100), _cents(partners / 100),
                                _cents(net / 100), _cents(net / 100))
    for s in eduzz.sales:
        item = json.loads(s.item)
        fee = _cents(item["fee"]["value"])
        rows["eduzz", s.id] = (STATUS["eduzz"][s.status], "BRL", _cents(s.total), fee,
                               _cents(0), _cents(s.total) - fee,
                               _cents(item["netGain"]["value"]))
    return rows


def marts(url: str) -> dict[tuple, tuple]:
    return {(r[0], r[1]): tuple(r[2:]) for r in query(url, MARTS)}


def _cli(*args: str, home: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TALLYHOUSE_HOME": str(home), "TALLYHOUSE_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "tallyhouse_cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)


def refund_webhook(sale, at: datetime) -> bytes:
    """Hotmart's PURCHASE_REFUNDED webhook (the published 2.0.0 example) for a sale."""
    body = copy.deepcopy(json.loads((REFERENCE / "hotmart" / "official_docs_examples" /
                                     "PURCHASE_webhook_2.0.0_docs_example.json").read_text()))
    body.update(id=f"refund-{sale.transaction}", event="PURCHASE_REFUNDED",
                creation_date=int(at.timestamp() * 1000))
    purchase = body["data"]["purchase"]
    price = {"value": sale.price, "currency_value": sale.currency}
    purchase.update(transaction=sale.transaction, status="REFUNDED", price=price,
                    full_price=price, original_offer_price=price,
                    order_date=sale.order_date, approved_date=sale.order_date + 60_000)
    purchase["payment"] = {"installments_number": 1, "type": "BILLET"}
    purchase.pop("order_bump", None)
    body["data"].pop("subscription", None)
    body["data"]["commissions"] = [
        {"value": sale.fee, "currency_value": sale.currency, "source": "MARKETPLACE"},
        {"value": round(sale.price - sale.fee, 2), "currency_value": sale.currency,
         "source": "PRODUCER"}]
    return json.dumps(body).encode()


def damaged_page(landing: Path, hotmart) -> Path:
    """A page of the sales history with two damaged records: a price that is no amount,
    and a sale without its transaction id."""
    item = json.loads(hotmart.sales[0].history)
    bad_price = copy.deepcopy(item)
    bad_price["purchase"].update(transaction="HP99999999999901", price={
        **bad_price["purchase"]["price"], "value": "12,50"})
    no_id = copy.deepcopy(item)
    no_id["purchase"].pop("transaction")
    no_id["purchase"]["status"] = "EXPIRED"
    fetched = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = (landing / "hotmart" /
            f"hotmart_sales_history-20260101-20260130-APPROVED-p00099-{fetched}.jsonl")
    path.write_bytes(json.dumps(bad_price).encode() + b"\n" + json.dumps(no_id).encode()
                     + b"\n")
    return path


@pytest.fixture(scope="module")
def backfilled(pg_server, tmp_path_factory):
    """The three stand-ins backfilled into one landing and run; then a refund webhook for a
    backfilled sale and a damaged API page, and a second run."""
    root = tmp_path_factory.mktemp("backfill-marts")
    landing = root / "landing"
    with HotmartStandIn(HOTMART_ID, HOTMART_SECRET, sales=60) as hotmart, \
            KiwifyStandIn(KIWIFY_ID, KIWIFY_SECRET, KIWIFY_ACCOUNT, sales=40) as kiwify, \
            EduzzStandIn(EDUZZ_TOKEN, sales=30) as eduzz, \
            _scratch_database(pg_server, "bf") as url:
        backfill(hotmart_env(hotmart), "hotmart", landing)
        backfill(kiwify_env(kiwify), "kiwify", landing, since=date(2025, 9, 1),
                 until=date(2026, 3, 31))
        backfill(eduzz_env(eduzz), "eduzz", landing, since=date(2026, 2, 1),
                 until=date(2026, 4, 30))
        first = _cli("run", "--landing", str(landing), home=root, url=url)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        state = {"marts": marts(url),
                 "money_breaks": query(url, "select platform, entity_id, break_kind, detail "
                                            "from marts.rpt_money_breaks"),
                 "status_breaks": query(url, "select platform, entity_id, break_kind, "
                                             "detail from marts.rpt_status_breaks")}
        refunded = next(s for s in hotmart.sales if s.status == "APPROVED")
        time.sleep(0.01)
        (landing / "hotmart" / "hotmart_webhooks-refund.jsonl").write_bytes(
            refund_webhook(refunded, datetime.now(UTC)) + b"\n")
        damaged = damaged_page(landing, hotmart)
        second = _cli("run", "--landing", str(landing), home=root, url=url)
        yield {"url": url, "hotmart": hotmart, "kiwify": kiwify, "eduzz": eduzz,
               "first": state, "second": second, "refunded": refunded, "damaged": damaged}


def test_backfilled_sales_equal_their_expected_marts(backfilled):
    expected = expected_marts(backfilled["hotmart"], backfilled["kiwify"],
                              backfilled["eduzz"])
    got = backfilled["first"]["marts"]
    assert set(got) == set(expected)
    wrong = {key: (got[key], expected[key]) for key in expected if got[key] != expected[key]}
    assert not wrong, list(wrong.items())[:5]


def test_backfilled_sales_break_no_money_identity_nor_status_rule(backfilled):
    assert backfilled["first"]["money_breaks"] == []
    assert backfilled["first"]["status_breaks"] == []


def test_a_refund_webhook_after_the_backfill_leaves_one_transaction_refunded(backfilled):
    second, url, sale = backfilled["second"], backfilled["url"], backfilled["refunded"]
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    rows = query(url, "select status, refund_kind, offer_price, platform_fee_amount, "
                      "producer_net_amount from marts.fct_transactions "
                      "where platform = 'hotmart' and platform_transaction_id = %s",
                 (sale.transaction,))
    price, fee = _cents(sale.price), _cents(sale.fee)
    assert rows == [("refunded", "refund", price, fee, price - fee)]
    history = query(url, "select previous_status, status, is_snapshot, is_valid_transition "
                         "from marts.fct_transaction_status_history "
                         "where platform_transaction_id = %s order by change_number",
                    (sale.transaction,))
    assert history == [(None, "approved", True, True), ("approved", "refunded", False, True)]
    assert query(url, "select entity_id, break_kind, detail from marts.rpt_money_breaks "
                      "where platform = 'hotmart'") == []


def test_a_damaged_api_record_is_a_data_issue_not_a_stopped_run(backfilled):
    url = backfilled["url"]
    assert backfilled["second"].returncode == 0
    issues = query(url, "select entity_id, field, reason, record_left_out "
                        "from marts.rpt_data_issues where feed = 'hotmart_sales_history' "
                        "order by field")
    assert ("HP99999999999901", "purchase.price.value",
            "not an amount with at most 2 decimal places", False) in issues
    assert (None, "purchase.transaction",
            "missing: the record cannot be placed without it", True) in issues
    [(offer,)] = query(url, "select offer_price from marts.fct_transactions "
                            "where platform_transaction_id = 'HP99999999999901'")
    assert offer is None


def test_no_api_record_is_left_unread(backfilled):
    url = backfilled["url"]
    for feed, model in API_FEEDS.items():
        [(raw,)] = query(url, f"select count(*) from raw.{feed}")
        [(staged,)] = query(url, f"select count(*) from staging.{model}")
        assert raw == staged > 0, feed
    assert query(url, "select feed, count(*) from staging.stg_platforms__unread_records "
                      "group by feed") == []
    # every API sale is a transaction of the marts, or a data issue that says why not
    [(lost,)] = query(url, """
        select count(*) from staging.stg_hotmart__sales_history as h
        where not exists (
            select 1 from marts.fct_transactions as t
            where t.platform = 'hotmart'
              and t.platform_transaction_id = h.platform_transaction_id)
          and not exists (
            select 1 from marts.rpt_data_issues as i
            where i.record_hash = h.record_hash and i.record_left_out)""")
    assert lost == 0
