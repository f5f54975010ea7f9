"""The generator: platform formats match the public examples; output is deterministic;
the ground truth agrees with the files; --anomalies lists a break of every kind."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tallyhouse.generator import GenerateConfig, generate
from tallyhouse.sources import FEEDS

from conftest import REFERENCE, SMALL, truth


def load_example(relative: str):
    text = (REFERENCE / relative).read_text()
    if relative.endswith(".txt"):
        # Published with elisions: drop "(...)" lines and the trailing commas they leave.
        text = "\n".join(line for line in text.splitlines() if "(...)" not in line)
        text = re.sub(r",\s*([}\]])", r"\1", text)
    return json.loads(text)


def kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def shape_mismatches(example, actual, path: str = "", optional: frozenset = frozenset(),
                     loose_types: frozenset = frozenset()) -> list[str]:
    """Keys of the example missing from the generated payload, and type differences
    where both sides have a value. Paths use dots; list elements are ``[]``."""
    problems: list[str] = []
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{path or '<root>'}: expected object, got {kind(actual)}"]
        for key, value in example.items():
            child = f"{path}.{key}" if path else key
            if key not in actual:
                if child not in optional:
                    problems.append(f"{child}: missing")
                continue
            problems += shape_mismatches(value, actual[key], child, optional, loose_types)
        return problems
    if isinstance(example, list):
        if not isinstance(actual, list):
            return [f"{path}: expected list, got {kind(actual)}"]
        if example and actual:
            for item in actual:
                problems += shape_mismatches(example[0], item, f"{path}[]", optional,
                                             loose_types)
        return problems
    if example is None or actual is None or path in loose_types:
        return problems
    if kind(example) != kind(actual):
        problems.append(f"{path}: example has {kind(example)}, generated {kind(actual)}")
    return problems


def records(landing: Path, feed: str) -> list:
    found = []
    for path in sorted(landing.rglob(f"{feed}_*.jsonl")):
        for line in path.read_text().splitlines():
            found.append(json.loads(line))
    return found


def first(items: list, predicate) -> dict:
    for item in items:
        if predicate(item):
            return item
    raise AssertionError("no generated record matches")


HOTMART_OPTIONAL = frozenset({
    # blocks of physical products, event tickets, product variants and shipping
    "data.product.content", "data.purchase.event_tickets", "data.purchase.variants",
    "data.shipping",
    # payment details that only some methods carry
    "data.purchase.payment.billet_barcode", "data.purchase.payment.billet_url",
    "data.purchase.payment.pix_code", "data.purchase.payment.pix_expiration_date",
    "data.purchase.payment.pix_qrcode", "data.purchase.payment.refusal_reason",
    "data.purchase.order_bump.parent_purchase_transaction",
    "data.purchase.offer.coupon_code", "data.purchase.offer.name",
    "data.purchase.offer.description",
    # conversion only when the producer's currency differs from the buyer's
    "data.commissions[].currency_conversion",
    "data.affiliates",
})


def test_hotmart_purchase_matches_the_published_webhook(small_landing):
    example = load_example(
        "hotmart/official_docs_examples/PURCHASE_webhook_2.0.0_docs_example.json")
    events = records(small_landing, "hotmart_webhooks")
    subscription = first(events, lambda e: e["event"] == "PURCHASE_APPROVED"
                         and "subscription" in e["data"])
    one_off = first(events, lambda e: e["event"] == "PURCHASE_APPROVED"
                    and "subscription" not in e["data"])
    # order_date: a string in the docs example, a number in real payloads
    loose = frozenset({"data.purchase.order_date"})
    assert shape_mismatches(example, subscription, optional=HOTMART_OPTIONAL,
                            loose_types=loose) == []
    assert shape_mismatches(example, one_off, optional=HOTMART_OPTIONAL | {
        "data.subscription", "data.purchase.date_next_charge"}, loose_types=loose) == []
    assert isinstance(one_off["data"]["purchase"]["order_date"], int)


@pytest.mark.parametrize("event,example", [
    ("SUBSCRIPTION_CANCELLATION", "SUBSCRIPTION_CANCELLATION.json"),
    ("SWITCH_PLAN", "SWITCH_PLAN.json"),
])
def test_hotmart_subscription_events_match(small_landing, event, example):
    reference = load_example(f"hotmart/official_docs_examples/{example}")
    generated = first(records(small_landing, "hotmart_webhooks"), lambda e: e["event"] == event)
    assert shape_mismatches(reference, generated) == []


def test_hotmart_sends_both_documented_spellings(small_landing):
    statuses = {e["data"]["purchase"]["status"] for e in records(small_landing, "hotmart_webhooks")
                if "purchase" in e["data"] and "status" in e["data"]["purchase"]}
    assert {"COMPLETED", "COMPLETE"} <= statuses
    assert {"BILLET_PRINTED", "PRINTED_BILLET"} & statuses


def test_kiwify_order_matches_the_test_webhook(small_landing):
    example = load_example("kiwify/kiwify_test_webhooks/purchase-approved.json")
    orders = [r for r in records(small_landing, "kiwify_webhooks") if isinstance(r, dict)]
    with_sub = first(orders, lambda o: o["order_status"] == "paid" and "Subscription" in o)
    single = first(orders, lambda o: o["order_status"] == "paid" and "Subscription" not in o)
    assert shape_mismatches(example, with_sub) == []
    assert shape_mismatches(example, single,
                            optional=frozenset({"Subscription", "subscription_id"})) == []
    # money in integer cents, dates without a time zone
    assert isinstance(single["Commissions"]["charge_amount"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", single["created_at"])


def test_kiwify_abandoned_carts_arrive_as_an_array(small_landing):
    example = load_example("kiwify/kiwify_test_webhooks/example-abandoned.json")
    carts = first(records(small_landing, "kiwify_webhooks"), lambda r: isinstance(r, list))
    assert shape_mismatches(example, carts) == []


def test_eduzz_invoice_matches_the_legacy_postback(small_landing):
    example = load_example("eduzz/legacy_webhook_v2_test_event_invoice.json")
    invoice = first(records(small_landing, "eduzz_webhooks"), lambda r: r["type"] == "invoice")
    assert shape_mismatches(example, invoice) == []
    assert all(isinstance(v, str) for v in invoice.values()), "Eduzz forms are string-valued"


def test_eduzz_abandonment_matches(small_landing):
    example = load_example("eduzz/legacy_webhook_v2_test_event_abandonment.json")
    event = first(records(small_landing, "eduzz_webhooks"), lambda r: r["type"] == "abandonment")
    assert shape_mismatches(example, event) == []


def test_pix_payment_matches_braspag(small_landing):
    created = load_example("braspag_cielo/pix_create_qrcode_response_Bradesco2.published.txt")
    after_refund = load_example("braspag_cielo/pix_query_after_refund_response.published.txt")
    split = load_example("braspag_cielo/split_post_transactional_response.json")
    payments = records(small_landing, "pix_payments")
    pending = first(payments, lambda p: p["Payment"]["Status"] == 12)
    optional = frozenset({"Payment.QrcodeBase64Image", "Payment.QrCodeString", "Customer"})
    assert shape_mismatches(created, pending, optional=optional) == []
    refunded = first(payments, lambda p: p["Payment"]["Status"] == 11
                     and p["Payment"].get("VoidedAmount"))
    assert shape_mismatches(after_refund, refunded, optional=optional) == []
    with_split = first(payments, lambda p: "SplitPayments" in p["Payment"])
    assert shape_mismatches(split["SplitPayments"], with_split["Payment"]["SplitPayments"]) == []
    assert {p["Payment"]["Status"] for p in payments} >= {12, 2, 11, 10}


def test_store_orders_carry_gift_card_payments(small_landing):
    orders = records(small_landing, "pix_orders")
    seed_example = {"orderId": "v123456-01", "totalValue": 20000,
                    "payments": [{"paymentSystem": "GiftCard", "value": 5000}]}
    with_card = first(orders, lambda o: any(p["paymentSystem"] == "GiftCard"
                                            for p in o["payments"]))
    assert shape_mismatches(seed_example, with_card) == []


def test_gift_cards_match_vtex(small_landing):
    card_example = load_example("vtex_giftcard/create_a_gift_card__response_200.json")
    tx_example = load_example("vtex_giftcard/get_a_gift_card_transaction_by_id__response_200.json")
    card = records(small_landing, "giftcard_cards")[0]
    assert shape_mismatches(card_example, card) == []
    transactions = records(small_landing, "giftcard_transactions")
    assert {t["operation"] for t in transactions} == {"Credit", "Debit"}
    for transaction in transactions:
        assert shape_mismatches(tx_example, transaction) == []


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        if path.name != "_truth.json":
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_bytes(tmp_path, small_landing):
    again = tmp_path / "again"
    generate(GenerateConfig(out=again, transactions=SMALL["transactions"], seed=SMALL["seed"],
                            days=SMALL["days"]))
    assert tree_digest(again) == tree_digest(small_landing)
    other = tmp_path / "other"
    generate(GenerateConfig(out=other, transactions=SMALL["transactions"],
                            seed=SMALL["seed"] + 1, days=SMALL["days"]))
    assert tree_digest(other) != tree_digest(small_landing)


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(FileExistsError):
        generate(GenerateConfig(out=tmp_path, transactions=10))


def test_truth_counts_every_distinct_record(small_landing):
    expected = truth(small_landing)["records"]
    for feed in FEEDS:
        lines: set[bytes] = set()
        total = 0
        for path in small_landing.rglob(f"{feed.name}_*"):
            body = path.read_bytes().splitlines()
            if feed.fmt == "csv":
                body = body[1:]
            total += len(body)
            lines.update(body)
        assert len(lines) == expected.get(feed.name, 0), feed.name
        if feed.fmt == "jsonl" and feed.source != "giftcards" and feed.origin != "api":
            assert total > len(lines), f"{feed.name}: real feeds redeliver; none here"


def test_truth_covers_every_platform_and_currency(small_landing):
    sales = truth(small_landing)["sales"]
    assert set(sales) == {"hotmart", "kiwify", "eduzz", "pix"}
    assert {"BRL", "USD"} <= set(sales["hotmart"])
    assert sum(values["transactions"] for by_cur in sales.values() for values in by_cur.values()
               ) <= SMALL["transactions"]
    brl = sales["hotmart"]["BRL"]
    # the money identities hold in the truth itself
    def cents(key):
        return round(float(brl[key]) * 100)
    assert cents("approved.distributable_amount") == cents("approved.offer_price") - cents(
        "approved.platform_fee_amount")
    assert cents("approved.producer_net_amount") == cents("approved.distributable_amount") - \
        cents("approved.partner_commission_amount")


def test_anomalies_cover_every_invariant(anomalies_landing):
    listed = json.loads((anomalies_landing / "_anomalies.json").read_text())["anomalies"]
    assert {a["invariant"] for a in listed} == {1, 2, 3, 4, 5, 6}
    kinds = {a["kind"] for a in listed}
    assert {"malformed_json", "bad_encoding", "truncated_last_line", "wrong_column_count",
            "invalid_transition", "unmapped_status", "payout_amount_mismatch",
            "confirm_above_hold", "negative_points_balance", "pix_refunded_twice",
            "split_base_includes_giftcard", "voucher_differs_from_refund",
            "giftcard_negative_balance", "order_points_mismatch"} <= kinds
    for anomaly in listed:
        assert anomaly["entity"], anomaly
        assert anomaly["amount_at_stake"] or anomaly["points_at_stake"] or \
            anomaly["invariant"] == 1, anomaly
