"""Breaks injected by ``generate --anomalies``: at least one per reconciliation invariant.

Each one is listed in ``_anomalies.json`` with the invariant it breaks, the check
meant to find it, the entity and the amount at stake. Most are *extra* records
(broken lines, extra transactions, extra ledger entries) so that everything else in
the extract stays clean; a few are produced during generation (see the engine's
hooks) because they must alter a record the platform sends anyway.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.model import Step, rng_uuid


def inject(gen) -> None:
    """Append the anomalies to the generator's files and fill gen.anomalies."""
    Injector(gen).run()


class Injector:
    def __init__(self, gen):
        self.gen = gen
        self.day = gen.start + timedelta(days=gen.cfg.days // 2, hours=12)
        self.found = gen.anomalies

    def add(self, kind: str, invariant: int, check: str, source: str, feed: str, entity: dict,
            description: str, amount: int | None = None, currency: str | None = None,
            points: int | None = None) -> None:
        self.found.append({
            "id": f"A{len(self.found) + 1:02d}", "kind": kind, "invariant": invariant,
            "check": check, "source": source, "feed": feed, "entity": entity,
            "amount_at_stake": render.money_text(amount) if amount is not None else None,
            "points_at_stake": points, "currency": currency, "description": description,
        })

    def run(self) -> None:
        self.quarantine_cases()
        self.money_cases()
        self.currency_cases()
        self.redelivery_cases()
        self.status_cases()
        self.payout_cases()
        self.points_cases()
        self.giftcard_pix_cases()

    # -- invariant 1: nothing lost (each bad record is quarantined, not dropped)

    def _line(self, source: str, feed: str, data: bytes) -> tuple[str, int]:
        files = self.gen.files
        day = self.day.date()
        line_no = files.write_line(source, feed, day, data)
        return files.path(source, feed, day).relative_to(self.gen.cfg.out).as_posix(), line_no

    def quarantine_cases(self) -> None:
        rel, line = self._line("hotmart", "hotmart_webhooks",
                               b'{"id":"broken-1","event":"PURCHASE_APPROVED","data":{"purchase":\n')
        self.add("malformed_json", 1, "quarantined_records", "hotmart", "hotmart_webhooks",
                 {"file": rel, "line": line}, "A webhook body cut in the middle: malformed JSON.")
        rel, line = self._line("eduzz", "eduzz_webhooks",
                               '{"type":"invoice","cus_name":"João"}\n'.encode("latin-1"))
        self.add("bad_encoding", 1, "quarantined_records", "eduzz", "eduzz_webhooks",
                 {"file": rel, "line": line}, "A postback body in Latin-1, not UTF-8.")
        rel, line = self._line("loyalty", "loyalty_entries",
                               b"bad-entry-1,LA-00001,credit,500\n")
        self.add("wrong_column_count", 1, "quarantined_records", "loyalty", "loyalty_entries",
                 {"file": rel, "line": line}, "A ledger row with 4 of 10 columns.")
        # A re-sent file whose last line was cut off in transfer: its other lines are
        # exact duplicates of lines already delivered.
        gen = self.gen
        last_day = (gen.end - timedelta(days=1)).date()
        source_path = gen.files.path("kiwify", "kiwify_webhooks", last_day)
        gen.files.close()
        lines = source_path.read_bytes().splitlines(keepends=True)[:2] if source_path.exists() \
            else []
        retry = source_path.with_name(source_path.stem + "_retry.jsonl")
        retry.write_bytes(b"".join(lines) + b'{"order_id":"cut-off","order_status":"pa')
        self.add("truncated_last_line", 1, "quarantined_records", "kiwify", "kiwify_webhooks",
                 {"file": retry.relative_to(gen.cfg.out).as_posix(), "line": len(lines) + 1},
                 "A file whose last line is truncated (no newline, incomplete JSON); its other "
                 f"{len(lines)} lines are exact duplicates.")

    # -- extra transactions (not in _truth.json) that each carry one break

    def _txn(self, platform: str, method: tuple[str, str] = ("CREDIT_CARD", "credit_card")):
        gen = self.gen
        product_index = gen.products_by_platform[platform][0]
        txn = gen.make_txn(platform, self.day, 7, product_index, method=method, currency="BRL")
        txn.steps = [Step("approved", self.day + timedelta(minutes=2))]
        return txn

    def _emit(self, source: str, feed: str, payload: dict, at: datetime) -> None:
        self.gen.write_json(source, feed, at, payload)

    def _paid_out(self, txn) -> None:
        """Extra transactions are settled like any other: only their own break shows."""
        self.gen.payout_lines(txn)

    def money_cases(self) -> None:
        rng = self.gen.rng
        txn = self._txn("hotmart")
        payload, _ = render.hotmart_purchase(txn, "approved", txn.steps[0].at, rng_uuid(rng))
        for commission in payload["data"]["commissions"]:
            if commission["source"] == "PRODUCER":
                commission["value"] = render.money(txn.producer_net + 1000)
        self._emit("hotmart", "hotmart_webhooks", payload, txn.steps[0].at)
        self._paid_out(txn)
        self.add("commissions_do_not_sum_to_price", 2, "money_formulas", "hotmart",
                 "hotmart_webhooks", {"platform": "hotmart", "platform_transaction_id": txn.txn_id},
                 "Hotmart's PRODUCER commission is 10.00 more than price minus the other "
                 "commissions: fees and commissions do not sum to the transaction.",
                 1000, txn.currency)
        txn = self._txn("kiwify", ("credit_card", "credit_card"))
        payload, _ = render.kiwify_order(txn, "approved", txn.steps[0].at)
        payload["Commissions"]["my_commission"] += 500
        payload["Commissions"]["commissioned_stores"][0]["value"] = str(
            txn.producer_net + 500)
        self._emit("kiwify", "kiwify_webhooks", payload, txn.steps[0].at)
        self._paid_out(txn)
        self.add("producer_net_mismatch", 2, "money_formulas", "kiwify", "kiwify_webhooks",
                 {"platform": "kiwify", "platform_transaction_id": txn.txn_id},
                 "Kiwify's my_commission is 5.00 more than settlement minus fee minus partner "
                 "commissions.", 500, txn.currency)

    def currency_cases(self) -> None:
        """Hotmart's own fee reported in dollars on a sale in reais."""
        from decimal import Decimal

        rng = self.gen.rng
        txn = self._txn("hotmart")
        payload, _ = render.hotmart_purchase(txn, "approved", txn.steps[0].at, rng_uuid(rng))
        fee = next(c for c in payload["data"]["commissions"] if c["source"] == "MARKETPLACE")
        fee["currency_value"] = "USD"
        self._emit("hotmart", "hotmart_webhooks", payload, txn.steps[0].at)
        self._paid_out(txn)
        self.add("currency_mismatch", 2, "money_formulas", "hotmart", "hotmart_webhooks",
                 {"platform": "hotmart", "platform_transaction_id": txn.txn_id},
                 "Hotmart's MARKETPLACE fee reported in USD on a sale in BRL: it cannot be "
                 "subtracted from the price.",
                 int(Decimal(str(fee["value"])) * 100), "USD")

    def redelivery_cases(self) -> None:
        """The same Hotmart event delivered again under its id with another payment type."""
        rng = self.gen.rng
        txn = self._txn("hotmart")
        at = txn.steps[0].at
        payload, _ = render.hotmart_purchase(txn, "approved", at, rng_uuid(rng))
        self._emit("hotmart", "hotmart_webhooks", payload, at)
        again = json.loads(json.dumps(payload))
        again["data"]["purchase"]["payment"]["type"] = (
            "PIX" if payload["data"]["purchase"]["payment"]["type"] != "PIX" else "BILLET")
        self._emit("hotmart", "hotmart_webhooks", again, at + timedelta(minutes=30))
        self._paid_out(txn)
        self.add("conflicting_redelivery", 1, "conflicting_redeliveries", "hotmart",
                 "hotmart_webhooks",
                 {"platform": "hotmart", "platform_transaction_id": txn.txn_id},
                 "The same Hotmart event id delivered twice with another payment type.",
                 txn.offer_price, txn.currency)

    def status_cases(self) -> None:
        rng = self.gen.rng
        txn = self._txn("hotmart")
        approved_at = txn.steps[0].at
        expired_at = approved_at + timedelta(hours=3)
        txn.steps.append(Step("expired", expired_at))
        for step in txn.steps:
            payload, _ = render.hotmart_purchase(txn, step.status, step.at, rng_uuid(rng))
            self._emit("hotmart", "hotmart_webhooks", payload, step.at)
        self._paid_out(txn)
        self.add("invalid_transition", 3, "status_history", "hotmart", "hotmart_webhooks",
                 {"platform": "hotmart", "platform_transaction_id": txn.txn_id,
                  "from_status": "approved", "to_status": "expired"},
                 "An approved Hotmart purchase later reported EXPIRED: a transition the state "
                 "diagram does not allow.", txn.offer_price, txn.currency)
        txn = self._txn("eduzz", ("15", "credit_card"))
        payload, _ = render.eduzz_invoice(txn, "approved", txn.steps[0].at)
        payload["trans_status"] = "99"
        payload["trans_status_name"] = "Status Desconhecido"
        self._emit("eduzz", "eduzz_webhooks", payload, txn.steps[0].at)
        self.add("unmapped_status", 3, "status_mapping", "eduzz", "eduzz_webhooks",
                 {"platform": "eduzz", "platform_transaction_id": txn.txn_id,
                  "raw_status": "99"},
                 "An Eduzz invoice with trans_status 99, which no seed maps.",
                 txn.offer_price, txn.currency)
        txn = self._txn("hotmart", ("BANK_SLIP_FLASH", "unknown"))
        payload, _ = render.hotmart_purchase(txn, "approved", txn.steps[0].at, rng_uuid(rng))
        self._emit("hotmart", "hotmart_webhooks", payload, txn.steps[0].at)
        self._paid_out(txn)
        self.add("unmapped_payment_method", 3, "payment_method_mapping", "hotmart",
                 "hotmart_webhooks",
                 {"platform": "hotmart", "platform_transaction_id": txn.txn_id,
                  "raw_payment_method": "BANK_SLIP_FLASH"},
                 "A Hotmart purchase paid with payment.type BANK_SLIP_FLASH, which no seed maps.",
                 txn.offer_price, txn.currency)

    # -- invariant 4: platform nets vs payout statements

    def payout_cases(self) -> None:
        gen = self.gen
        for txn, payout_day, amount, reported in gen.samples.get("payout_mismatch", []):
            self.add("payout_amount_mismatch", 4, "payouts_match_platform", "payouts",
                     "payout_lines",
                     {"platform": txn.platform, "platform_transaction_id": txn.txn_id,
                      "payout_id": f"PO-{txn.platform.upper()}-{txn.currency}-"
                                   f"{payout_day:%Y%m%d}"},
                     "The payout statement paid 3.21 less than the producer net Hotmart "
                     "reported.", amount - reported, txn.currency)
        for txn, payout_day, amount in gen.samples.get("payout_skipped", []):
            self.add("approved_never_paid", 4, "approved_unpaid", "payouts", "payout_lines",
                     {"platform": txn.platform, "platform_transaction_id": txn.txn_id},
                     f"An approved Hotmart sale due in the payout of {payout_day} is on no "
                     "statement.", amount, txn.currency)
        day = gen.next_payout_date(self.day)
        payout_id = f"PO-HOTMART-BRL-{day:%Y%m%d}"
        ghost = "HP99999999999999"
        gen.files.write_row("payouts", "payout_lines", day,
                            (payout_id, "hotmart", day.isoformat(), "sale", ghost, "BRL",
                             "123.45"))
        self.add("payout_unknown_transaction", 4, "payouts_match_platform", "payouts",
                 "payout_lines", {"platform": "hotmart", "platform_transaction_id": ghost,
                                  "payout_id": payout_id},
                 "A payout line for a transaction no platform extract contains.", 12345, "BRL")

    # -- invariant 5: points

    def points_cases(self) -> None:
        gen = self.gen
        company = gen.companies[0]
        at = self.day
        auth = "ffffffff-0000-4000-8000-000000000001"
        gen.ledger(company, "confirm", 700, at, "VND-FUEL", "external", "", auth, rng_uuid(gen.rng))
        self.add("confirm_without_authorization", 5, "points_lifecycle", "loyalty",
                 "loyalty_entries", {"account_id": company["account"], "authorization_id": auth},
                 "A confirm for an authorization that was never made.", points=700)
        auth = "ffffffff-0000-4000-8000-000000000002"
        gen.ledger(company, "authorize", 1000, at, "VND-BILLS", "external", "", auth, "ext-2")
        gen.ledger(company, "confirm", 1500, at + timedelta(minutes=3), "VND-BILLS", "external",
                   "", auth, "ext-2")
        self.add("confirm_above_hold", 5, "points_lifecycle", "loyalty", "loyalty_entries",
                 {"account_id": company["account"], "authorization_id": auth},
                 "Confirmed 1500 points against a 1000-point hold.", points=500)
        # External redemptions (no portal order), so only the hold itself is broken; the
        # account is credited first so that its balance stays above zero.
        sample = gen.samples.get("confirmed_auth_external", [])
        if sample:
            comp, points, resolved, auth_id, order_number = sample[0]
            gen.ledger(comp, "credit", points, resolved + timedelta(minutes=5))
            gen.ledger(comp, "confirm", points, resolved + timedelta(minutes=10),
                       "VND-EXTERNAL", "external", order_number, auth_id, "")
            self.add("double_confirm", 5, "points_lifecycle", "loyalty", "loyalty_entries",
                     {"account_id": comp["account"], "authorization_id": auth_id},
                     "The same authorization confirmed twice.", points=points)
        if len(sample) > 1:
            comp, points, resolved, auth_id, order_number = sample[1]
            gen.ledger(comp, "cancel", points, resolved + timedelta(minutes=20),
                       "VND-EXTERNAL", "external", order_number, auth_id, "")
            self.add("cancel_after_confirm", 5, "points_lifecycle", "loyalty", "loyalty_entries",
                     {"account_id": comp["account"], "authorization_id": auth_id},
                     "A cancel after the authorization was confirmed.", points=points)
        for number, total, reported, comp in gen.samples.get("order_points", []):
            self.add("order_points_mismatch", 5, "redemption_points", "redemptions",
                     "redemption_orders", {"order_number": number,
                                           "account_id": comp["account"]},
                     "A completed redemption order whose total points differ from its items "
                     "and its confirmed debit.", points=reported - total)
        auth = "ffffffff-0000-4000-8000-000000000004"
        gen.ledger(company, "authorize", 300, at + timedelta(minutes=10), "VND-BILLS",
                   "external", "", auth, "ext-4")
        gen.ledger(company, "cancel", 300, at + timedelta(minutes=11), "VND-BILLS", "external",
                   "", auth, "ext-4")
        gen.ledger(company, "confirm", 300, at + timedelta(minutes=12), "VND-BILLS", "external",
                   "", auth, "ext-4")
        self.add("confirm_after_cancel", 5, "points_lifecycle", "loyalty", "loyalty_entries",
                 {"account_id": company["account"], "authorization_id": auth},
                 "A confirm after the authorization was cancelled.", points=300)
        ghost = {"account": "LA-99999", "credits": 0, "confirmed": 0, "held": 0}
        auth = "ffffffff-0000-4000-8000-000000000003"
        gen.ledger(ghost, "credit", 100, at)
        gen.ledger(ghost, "authorize", 5000, at + timedelta(minutes=1), "VND-AIRLINE",
                   "external", "", auth, "ext-3")
        gen.ledger(ghost, "confirm", 5000, at + timedelta(minutes=2), "VND-AIRLINE",
                   "external", "", auth, "ext-3")
        self.add("negative_points_balance", 5, "points_balance", "loyalty", "loyalty_entries",
                 {"account_id": "LA-99999"},
                 "An account credited 100 points that confirmed a 5000-point debit.",
                 points=4900)

    # -- invariant 6: gift cards and PIX

    def giftcard_pix_cases(self) -> None:
        gen = self.gen
        for txn, card, value in gen.samples.get("voucher_mismatch", []):
            self.add("voucher_differs_from_refund", 6, "voucher_refunds", "giftcards",
                     "giftcard_transactions",
                     {"order_id": txn.txn_id, "payment_id": txn.extra["payment_id"],
                      "card_id": card["id"]},
                     "A refund voucher credited 10.00 more than the refunded PIX payment.",
                     value - txn.refund_amount, "BRL")
        for txn, _total, giftcard_amount in gen.samples.get("split_base", []):
            self.add("split_base_includes_giftcard", 6, "pix_split_base", "pix", "pix_payments",
                     {"order_id": txn.txn_id, "payment_id": txn.extra["payment_id"]},
                     "The split was computed on the order total, gift-card part included.",
                     giftcard_amount, "BRL")
        vouchers = gen.samples.get("voucher", [])
        if vouchers:
            txn, card = vouchers[0]
            refund_at = next(s.at for s in txn.steps if s.status == "refunded")
            again = refund_at + timedelta(days=2)
            payload, _ = render.braspag_payment(txn, "refunded", again)
            self._emit("pix", "pix_payments", payload, again)
            self.add("pix_refunded_twice", 6, "pix_refund_once", "pix", "pix_payments",
                     {"order_id": txn.txn_id, "payment_id": txn.extra["payment_id"]},
                     "A refunded PIX payment reported as status 11 (Refunded) a second time.",
                     txn.refund_amount, "BRL")
            mismatched = {t.txn_id for t, _, _ in gen.samples.get("voucher_mismatch", [])}
            others = [(t, c) for t, c in vouchers[1:] if t.txn_id not in mismatched]
            if others:
                other, other_card = others[0]
                credited = next(s.at for s in other.steps if s.status == "refunded")
                gen.giftcard_transaction(other_card, "Credit", other.refund_amount,
                                          credited + timedelta(hours=1), other.txn_id,
                                          other.extra["payment_id"],
                                          f"refund-{other.extra['payment_id']}-again",
                                          "Vale-troca (reembolso)")
                other_card["balance"] += other.refund_amount
                self.add("voucher_above_refund", 6, "voucher_refunds", "giftcards",
                         "giftcard_transactions",
                         {"order_id": other.txn_id, "payment_id": other.extra["payment_id"]},
                         "A second voucher for a payment already refunded by voucher.",
                         other.refund_amount, "BRL")
            overdraw = card["balance"] + 2500
            gen.giftcard_transaction(card, "Debit", overdraw, gen.end - timedelta(hours=6),
                                      "v-overdraw-01", None, "order-v-overdraw-01",
                                      "Pagamento acima do saldo")
            card["balance"] -= overdraw
            self.add("giftcard_negative_balance", 6, "giftcard_balance", "giftcards",
                     "giftcard_transactions", {"card_id": card["id"]},
                     "A debit 25.00 above the card's balance.", 2500, "BRL")
