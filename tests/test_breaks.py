"""Breaks a hostile tester found passing silently: each is now caught, with its amount or
record count, and a clean case stays silent."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal

import psycopg2

from tallyhouse import ingest
from tallyhouse.reconciliation.runner import run_checks

from conftest import REFERENCE, build, query


def _breaks(url: str, check: str) -> list[dict]:
    [outcome] = [o for o in run_checks(url) if o.check.name == check]
    assert outcome.error is None, outcome.error
    return outcome.breaks


def test_a_file_changed_under_a_loaded_name_is_a_break_with_its_record_count(
        database_url, landing_copy):
    build(database_url, landing_copy)
    assert _breaks(database_url, "files_reconcile") == []
    target = sorted((landing_copy / "kiwify").glob("*.jsonl"))[3]
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:-1]))  # one record fewer: other content, same name
    build(database_url, landing_copy)
    [found] = _breaks(database_url, "files_reconcile")
    assert found["break_kind"] == "changed_file"
    assert found["entity_id"] == f"kiwify/{target.name}"
    assert found["actual"] == len(lines) - 1
    assert "not loaded" in found["detail"]


def test_empty_files_in_two_sources_are_no_false_alarm(database_url, tmp_path):
    for source, name in (("hotmart", "hotmart_webhooks_empty.jsonl"),
                         ("kiwify", "kiwify_webhooks_empty.jsonl"),
                         ("loyalty", "loyalty_entries_empty.csv")):
        (tmp_path / source).mkdir()
        (tmp_path / source / name).write_bytes(b"")
    build(database_url, tmp_path)
    assert query(database_url, "select count(*) from raw._manifest")[0][0] == 3
    assert _breaks(database_url, "files_reconcile") == []


def test_a_payout_line_re_exported_with_other_formatting_counts_once(database_url,
                                                                     landing_copy):
    build(database_url, landing_copy)
    before = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    source = sorted((landing_copy / "payouts").glob("*.csv"))[0]
    header, first = source.read_text().splitlines()[:2]
    cells = first.split(",")
    cells[-1] = cells[-1] + "0"  # 23.28 -> 23.280: the same amount, other bytes
    (landing_copy / "payouts" / "payout_lines_reexport.csv").write_text(
        header + "\n" + ",".join(cells) + "\n")
    build(database_url, landing_copy)
    after = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    assert after == before
    assert _breaks(database_url, "paid_out_twice") == []
    # a duplicate of the first delivery (counted by files_reconcile), not a data issue
    assert query(database_url, "select source_file, reason from marts.rpt_data_issues "
                               "where feed = 'payout_lines'") == []
    # a re-export whose amount really differs is listed as a conflict
    cells[-1] = "999.99"
    (landing_copy / "payouts" / "payout_lines_conflict.csv").write_text(
        header + "\n" + ",".join(cells) + "\n")
    build(database_url, landing_copy)
    reasons = [r for (r,) in query(database_url, "select reason from marts.rpt_data_issues "
                                                 "where feed = 'payout_lines'")]
    assert any("conflict" in r for r in reasons), reasons


def test_loads_are_numbered_in_commit_order(database_url, small_landing):
    from tallyhouse.sources import source_by_name

    conn = psycopg2.connect(database_url)
    try:
        ingest.ensure_raw_schema(conn)
        for path in sorted((small_landing / "hotmart").glob("*.jsonl"))[:3]:
            ingest.load_file(conn, small_landing, source_by_name("hotmart"), path)
        numbers = [n for (n,) in query(conn, "select distinct _load_seq from "
                                             "raw.hotmart_webhooks order by 1")]
        files = [f for (f,) in query(conn, "select _file_name from raw.hotmart_webhooks "
                                           "group by 1 order by min(_load_seq)")]
    finally:
        conn.close()
    assert len(numbers) == 3
    assert files == sorted(files)


BRASPAG = REFERENCE / "braspag_cielo"


def _published(path) -> dict:
    """A Braspag example as published, its "(...)" elisions removed."""
    text = "\n".join(line for line in path.read_text().splitlines()
                     if line.strip() not in ("(...)", "(...),"))
    return json.loads(re.sub(r",\s*([}\]])", r"\1", text))


def _pix_payment(order: str, payment_id: str, status: int, amount: int, **extra) -> dict:
    payment = {"PaymentId": payment_id, "Type": "Pix", "Amount": amount, "Status": status,
               "Currency": "BRL", "ReceivedDate": "2026-05-10 10:00:00",
               "CapturedAmount": amount, "CapturedDate": "2026-05-10 10:05:00", **extra}
    return {"MerchantOrderId": order, "Customer": {"Name": "Pagador"}, "Payment": payment}


def test_pix_split_refunds_and_spellings_as_braspag_publishes_them(database_url, tmp_path):
    split = json.loads((BRASPAG / "split_post_transactional_response.json").read_text())
    after_refund = _published(BRASPAG / "pix_query_after_refund_response.published.txt")
    partial = copy.deepcopy(after_refund)
    partial["MerchantOrderId"] = "2020102702"
    partial["Payment"]["PaymentId"] = "partial-void-1"
    partial["Payment"]["VoidedAmount"] = 40
    spelled = _pix_payment("ORD-SPELLING", "", 2, 5000)
    spelled["Payment"]["Paymentid"] = spelled["Payment"].pop("PaymentId") or "spelled-1"
    payments = [
        _pix_payment("ORD-SPLIT", split["PaymentId"], 2, 10000, DoSplit=True,
                     SplitPayments=split["SplitPayments"]),
        after_refund, partial, spelled,
    ]
    (tmp_path / "pix").mkdir()
    (tmp_path / "pix" / "pix_payments_braspag.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in payments))
    order = {"orderId": "ORD-SPLIT", "creationDate": "2026-05-10T13:00:00Z",
             "lastChange": "2026-05-10T13:05:00Z", "status": "invoiced", "value": 10000,
             "payments": [{"paymentSystem": "PIX", "value": 10000}],
             "items": [{"productId": "P1", "name": "Curso"}]}
    (tmp_path / "pix" / "pix_orders_braspag.jsonl").write_text(json.dumps(order) + "\n")
    build(database_url, tmp_path)

    # two subordinates: each one's share is a partner commission, the master keeps the rest
    lines = query(database_url, "select participant, amount from marts.fct_commissions c "
                                "join marts.fct_transactions t using (transaction_key) "
                                "where t.platform_transaction_id = 'ORD-SPLIT' "
                                "and c.raw_role = 'subordinate' order by participant")
    assert lines == [("e5147542-0c0e-45d4-b6a8-a5a7167e6ae7", Decimal("56.70")),
                     ("f1531485-adb3-4320-9b14-dbc07eea2b3e", Decimal("38.25"))]
    assert query(database_url, "select partner_commission_amount, producer_net_amount "
                               "from marts.fct_transactions "
                               "where platform_transaction_id = 'ORD-SPLIT'") == [
        (Decimal("94.95"), Decimal("5.05"))]
    assert _breaks(database_url, "pix_split_base") == []
    assert _breaks(database_url, "money_formulas") == []
    # a void of the whole amount is a refund; of less, a partial refund
    statuses = dict(query(database_url, "select platform_transaction_id, status "
                                        "from marts.fct_transactions where platform = 'pix'"))
    assert statuses["2020102701"] == "refunded"
    assert statuses["2020102702"] == "partially_refunded"
    history = [s for (s,) in query(database_url, "select status from "
                                   "marts.fct_transaction_status_history where "
                                   "platform_transaction_id = '2020102701' order by changed_at")]
    assert "partially_refunded" not in history
    # Braspag also spells the id Paymentid
    assert query(database_url, "select payment_id from staging.stg_pix__payment_events "
                               "where platform_transaction_id = 'ORD-SPELLING'") == [
        ("spelled-1",)]


def test_a_payout_or_a_fee_in_another_currency_than_the_sale_is_a_break(clean_copy):
    from tallyhouse.dbt import run_dbt

    url = clean_copy
    assert [b for o in run_checks(url) for b in o.breaks
            if "currency_mismatch" in b["break_kind"]] == []
    [(payout_tx, amount)] = query(
        url, "update marts.fct_payouts set currency_code = 'EUR' where payout_line_key = "
             "(select min(payout_line_key) from marts.fct_payouts where line_type = 'sale' "
             "and currency_code = 'BRL') returning platform_transaction_id, amount")
    [(fee_tx,)] = query(
        url, "update marts.fct_commissions c set currency_code = 'USD' from "
             "marts.fct_transactions t where c.transaction_key = t.transaction_key and "
             "c.commission_key = (select min(commission_key) from marts.fct_commissions "
             "where raw_role = 'kiwify_fee' and amount > 0) returning t.platform_transaction_id")
    # a producer line in another currency than its BRL sale
    [(producer_tx, producer_amount)] = query(
        url, "update marts.fct_commissions c set currency_code = 'USD' from "
             "marts.fct_transactions t where c.transaction_key = t.transaction_key and "
             "c.commission_key = (select min(c2.commission_key) from marts.fct_commissions c2 "
             "join marts.fct_transactions t2 on c2.transaction_key = t2.transaction_key "
             "where c2.role = 'producer' and c2.amount > 0 and t2.currency_code = 'BRL' "
             "and t2.platform_transaction_id <> %s) "
             "returning t.platform_transaction_id, c.amount", (fee_tx,))
    # marts changed by hand, not by a load: the breaks are recomputed whole (as the weekly
    # full pass does; a daily run recomputes the transactions a load touched)
    done = run_dbt(["run", "--full-refresh", "--select", "rpt_payout_breaks",
                    "rpt_money_breaks"], url=url, capture=True)
    assert done.returncode == 0, done.stdout[-2000:]
    [payout] = [b for b in _breaks(url, "payouts_match_platform")
                if b["break_kind"] == "payout_currency_mismatch"]
    assert (payout["entity_id"], payout["currency_code"], payout["amount_at_stake"]) == (
        payout_tx, "EUR", amount)
    mismatches = {b["entity_id"]: b for b in _breaks(url, "money_formulas")
                  if b["break_kind"] == "currency_mismatch"}
    assert set(mismatches) == {fee_tx, producer_tx}
    assert mismatches[fee_tx]["currency_code"] == "USD"
    assert mismatches[fee_tx]["amount_at_stake"] > 0
    # the line's own amount at stake, in its own currency
    assert (mismatches[producer_tx]["currency_code"], mismatches[producer_tx]["amount_at_stake"]
            ) == ("USD", producer_amount)
    # and no difference claimed in BRL for a sum that would have mixed the two currencies
    assert [b["break_kind"] for b in _breaks(url, "money_formulas")
            if b["entity_id"] == producer_tx
            and b["break_kind"] != "currency_mismatch"] == []
