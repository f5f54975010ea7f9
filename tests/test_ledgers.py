"""The ledger marts (points, redemptions, gift cards, payouts) equal the generator's truth."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tallyhouse.reconciliation.runner import run_checks

from conftest import build, query, snapshot_marts, truth


def test_points_marts_equal_the_truth(clean_build, small_landing):
    url, _ = clean_build
    points = truth(small_landing)["points"]
    by_type = {entry_type: (count, total) for entry_type, count, total in query(
        url, "select entry_type, count(*), sum(points) from marts.fct_points_ledger group by 1")}
    for entry_type in ("credit", "authorize", "confirm", "cancel"):
        assert by_type[entry_type] == (points[f"{entry_type}.count"],
                                       points[f"{entry_type}.points"]), entry_type
    open_holds = query(url, "select count(*), coalesce(sum(authorized_points), 0) "
                            "from marts.fct_points_authorizations "
                            "where outcome in ('open', 'expired')")[0]
    assert open_holds == (points.get("open_holds", 0), points.get("open_hold_points", 0))
    accounts = query(url, "select count(*), sum(balance_points), min(lowest_balance_points) "
                          "from marts.dim_points_accounts")[0]
    assert accounts[:2] == (points["accounts"], points["balance_points"])
    assert accounts[2] >= 0, "no balance below zero in clean books"


def test_redemption_orders_equal_the_truth(clean_build, small_landing):
    url, _ = clean_build
    redemptions = truth(small_landing)["redemptions"]
    for status, count, total in query(url, "select order_status, count(*), sum(total_points) "
                                           "from marts.fct_redemption_orders group by 1"):
        assert (count, total) == (redemptions[f"orders.{status}.count"],
                                  redemptions[f"orders.{status}.points"]), status
    assert query(url, "select count(*) from marts.fct_redemption_order_items")[0][0] == \
        redemptions["items.count"]
    mismatched = query(url, "select order_number from marts.fct_redemption_orders where "
                            "order_status = 'COMPLETED' and (total_points <> items_points "
                            "or total_points <> confirmed_debit_points)")
    assert mismatched == []


def test_gift_cards_equal_the_truth(clean_build, small_landing):
    url, _ = clean_build
    cards = truth(small_landing)["giftcards"]
    got = query(url, "select count(*), sum(credited_amount), sum(redeemed_amount), "
                     "sum(balance_amount), min(lowest_balance_amount) from marts.fct_gift_cards")[0]
    assert cards.get("cards", 0) > 0, "the small landing has voucher refunds"
    assert got[:4] == (cards["cards"], Decimal(cards.get("credited_amount", "0")),
                       Decimal(cards.get("redeemed_amount", "0")),
                       Decimal(cards.get("balance_amount", "0")))
    assert got[4] >= 0


def test_payouts_equal_the_truth(clean_build, small_landing):
    url, _ = clean_build
    expected = truth(small_landing)["payouts"]
    got = {}
    for platform, currency, line_type, count, total in query(
            url, "select platform, currency_code, line_type, count(*), sum(amount) "
                 "from marts.fct_payouts group by 1, 2, 3"):
        got[(platform, currency, line_type)] = (count, total)
    want = {
        (platform, currency, key.split(".")[0]): (values[key],
                                                  Decimal(values[key.replace("count", "amount")]))
        for platform, by_currency in expected.items() for currency, values in by_currency.items()
        for key in values if key.endswith(".count")
    }
    assert got == want
    assert query(url, "select count(*) from marts.fct_payouts where transaction_key is null") \
        == [(0,)]


def test_each_ledger_anomaly_is_in_its_report_and_nothing_else(database_url, anomalies_landing):
    build(database_url, anomalies_landing)
    listed = json.loads((anomalies_landing / "_anomalies.json").read_text())["anomalies"]

    def entity(anomaly: dict) -> str:
        e = anomaly["entity"]
        return (e.get("authorization_id") or e.get("order_number") or e.get("order_id")
                or e.get("card_id") or e.get("platform_transaction_id")
                or e.get("account_id"))

    expected = {(a["kind"], entity(a)) for a in listed if a["invariant"] in (4, 5, 6)}
    found = set(query(database_url, "select check_name, entity_id from "
                                    "marts.rpt_points_breaks"))
    found |= set(query(database_url, "select check_name, platform_transaction_id from "
                                     "marts.rpt_payout_breaks"))
    found |= set(query(database_url, "select check_name, entity_id from "
                                     "marts.rpt_giftcard_pix_breaks"))
    assert found == expected
    # and the amount at stake is the listed one
    stakes = {(a["kind"], entity(a)): a for a in listed if a["invariant"] in (4, 5, 6)}
    for check, entity_id, difference in query(
            database_url, "select check_name, platform_transaction_id, abs(difference) "
                          "from marts.rpt_payout_breaks"):
        assert difference == Decimal(stakes[(check, entity_id)]["amount_at_stake"])


def test_clean_books_have_no_ledger_breaks(clean_build):
    url, _ = clean_build
    for report in ("rpt_points_breaks", "rpt_payout_breaks", "rpt_giftcard_pix_breaks"):
        assert query(url, f"select check_name, count(*) from marts.{report} group by 1") == [], \
            report


def test_pix_refunds_carry_the_method_taken(clean_build, small_landing):
    url, _ = clean_build
    pix = truth(small_landing)["pix"]
    got = dict(((method, (count, total)) for method, count, total in query(
        url, "select method, count(*), sum(amount) from marts.fct_refunds "
             "where platform = 'pix' group by 1")))
    assert got.get("gift_card_voucher", (0, 0)) == (
        pix.get("refund.voucher.count", 0), Decimal(pix.get("refund.voucher.amount", "0")))
    assert got.get("pix_devolution", (0, 0)) == (
        pix.get("refund.direct.count", 0), Decimal(pix.get("refund.direct.amount", "0")))
    recommended = {r for (r,) in query(url, "select distinct recommended_method from "
                                            "marts.fct_refunds where platform = 'pix'")}
    assert recommended and recommended <= {"gift_card_voucher", "pix_devolution",
                                           "gift_card_voucher_or_pix_devolution"}


def _reexport(source: Path, target: Path, lines: int, change) -> list[int]:
    """The first `lines` records of a CSV extract delivered again as `target`, each through
    `change(cells)`; the line numbers of the originals."""
    header, *records = source.read_text().splitlines()
    target.write_text("\n".join([header] + [",".join(change(r.split(",")))
                                            for r in records[:lines]]) + "\n")
    return list(range(2, lines + 2))


def _reformatted_payout(cells: list[str]) -> list[str]:
    # the same date and amount in other bytes: 2026-05-04T00:00:00, 23.280
    payout_id, platform, payout_date, line_type, transaction, currency, amount = cells
    return [payout_id, platform, payout_date + "T00:00:00", line_type, transaction, currency,
            amount + "0"]


def _reformatted_entry(cells: list[str]) -> list[str]:
    # the same instant in another format: 2026-05-01 00:00:00+00 for 2026-05-01T00:00:00Z
    return cells[:-1] + [cells[-1].replace("T", " ").replace("Z", "+00")]


def _paid(url: str, file: str) -> set[tuple[str, int]]:
    """The (file, line) of the payout lines of `file` that fct_payouts holds."""
    return set(query(url, "select _file_name, _line_no from raw.payout_lines as raw "
                          "where _file_name = %s and exists (select from marts.fct_payouts "
                          "where payout_line_key = md5(encode(raw._record_hash, 'hex')))",
                     (file,)))


def test_a_ledger_re_export_in_other_formatting_is_a_duplicate_of_the_first_delivery(
        database_url, landing_copy):
    build(database_url, landing_copy)
    before = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    ledger_before = query(database_url, "select count(*), sum(points) "
                                        "from marts.fct_points_ledger")[0]
    # delivered in a later run, under names that sort before the originals
    payouts = sorted((landing_copy / "payouts").glob("*.csv"))[0]
    loyalty = sorted((landing_copy / "loyalty").glob("*.csv"))[0]
    lines = _reexport(payouts, landing_copy / "payouts" / "payout_lines_0-reexport.csv", 5,
                      _reformatted_payout)
    _reexport(loyalty, landing_copy / "loyalty" / "loyalty_entries_0-reexport.csv", 3,
              _reformatted_entry)
    build(database_url, landing_copy)

    # counted once, and the one kept is the first delivered
    assert query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0] \
        == before
    assert query(database_url, "select count(*), sum(points) from marts.fct_points_ledger")[0] \
        == ledger_before
    original = f"payouts/{payouts.name}"
    assert _paid(database_url, original) >= {(original, n) for n in lines}
    assert _paid(database_url, "payouts/payout_lines_0-reexport.csv") == set()
    assert query(database_url, "select distinct source_file from marts.fct_points_ledger "
                               "where entry_key in (select entry_id from "
                               "staging.stg_loyalty__entries where source_file = %s)",
                 ("loyalty/loyalty_entries_0-reexport.csv",)) == [(f"loyalty/{loyalty.name}",)]

    # not a data issue, no structural finding (nothing "could not be placed"): the files
    # reconcile with the re-exports counted as duplicates
    assert query(database_url, "select source_file, reason from marts.rpt_data_issues") == []
    assert [(o.check.name, o.breaks[:2]) for o in run_checks(database_url)
            if o.check.severity == "ERROR" and not o.passed] == []
    incremental = snapshot_marts(database_url)
    # (a file that does not reconcile shows how its records were counted)
    query(database_url, "update raw._manifest set records_in_file = records_in_file + 1 "
                        "where file_name = 'payouts/payout_lines_0-reexport.csv'")
    build(database_url, landing_copy)
    assert query(database_url, "select detail from marts.rpt_file_breaks") == [(
        "6 records in the file; 0 landed, 0 quarantined, 5 duplicates (0 exact, 5 re-exported "
        "with other formatting)",)]

    # the two runs give the marts of one full refresh
    query(database_url, "update raw._manifest set records_in_file = records_in_file - 1 "
                        "where file_name = 'payouts/payout_lines_0-reexport.csv'")
    build(database_url, landing_copy, "--full-refresh")
    assert snapshot_marts(database_url) == incremental


def test_a_ledger_re_export_with_another_value_is_a_conflicting_re_export(database_url,
                                                                          landing_copy):
    build(database_url, landing_copy)
    before = query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0]
    payouts = sorted((landing_copy / "payouts").glob("*.csv"))[0]
    original = f"payouts/{payouts.name}"
    lines = _reexport(payouts, landing_copy / "payouts" / "payout_lines_0-conflict.csv", 5,
                      lambda cells: cells[:-1] + ["999.99"])
    build(database_url, landing_copy)
    listed = query(database_url, "select source_file, source_line, reason "
                                 "from marts.rpt_data_issues order by source_line")
    assert [(file, number) for file, number, _ in listed] == [
        ("payouts/payout_lines_0-conflict.csv", n) for n in lines]
    for _, _, reason in listed:
        assert reason.startswith("conflicting re-export") and "999.99" in reason, reason
        assert not reason.endswith("999.99"), "the marts use the first delivery's amount"
    # the marts keep the first delivery
    assert _paid(database_url, original) >= {(original, n) for n in lines}
    assert query(database_url, "select count(*), sum(amount) from marts.fct_payouts")[0] \
        == before
