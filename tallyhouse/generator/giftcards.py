"""Gift cards: refund vouchers and their redemptions."""

from __future__ import annotations

from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.model import (
    Txn,
)
from tallyhouse.generator.state import (
    GeneratorState,
)


class GiftCards(GeneratorState):
    """Cards, credits and debits."""

    # ------------------------------------------------------------------ gift cards

    def _giftcard_card(self, cust: int, at: datetime) -> dict:
        card = self.cards.get(cust)
        if card is not None:
            return card
        self.card_seq += 1
        card = {"id": str(10_000 + self.card_seq), "balance": 0, "customer": cust,
                "code": f"{self.rng.getrandbits(48):012X}", "credits": [], "debited": 0}
        self.cards[cust] = card
        self.voucher_holders.append(cust)
        buyer = render.customer(cust)
        payload = {
            "id": card["id"],
            "redemptionToken": f"{self.rng.getrandbits(128):032x}",
            "redemptionCode": card["code"],
            "balance": 0.0,
            "relationName": buyer["email"],
            "emissionDate": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "expiringDate": (at + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S"),
            "caption": "Vale-troca de reembolso",
            "currencyCode": "BRL",
            "transactions": {"href": f"cards/{card['id']}/transactions"},
        }
        self.write_json("giftcards", "giftcard_cards", at, payload)
        self.truth.records["giftcard_cards"] += 1
        self.truth.giftcards["cards"] += 1
        return card

    def giftcard_transaction(self, card: dict, operation: str, value: int, at: datetime,
                              order_id: str, payment_id: str | None, request_id: str,
                              description: str) -> dict:
        tx_id = f"{self.rng.getrandbits(128):032x}"
        base = f"/tallyhouse/giftcards/{card['id']}/transactions/{tx_id}"
        payload = {
            "id": tx_id, "cardId": card["id"], "value": render.money(value),
            "description": description, "date": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "requestId": request_id,
            "settlement": {"href": f"{base}/settlements"},
            "cancellation": {"href": f"{base}/cancellations"},
            "authorization": {"href": f"{base}/authorization"},
            "operation": operation, "orderId": order_id, "paymentId": payment_id,
        }
        self.write_json("giftcards", "giftcard_transactions", at, payload)
        self.truth.records["giftcard_transactions"] += 1
        return payload

    def _voucher_refund(self, txn: Txn, at: datetime) -> None:
        card = self._giftcard_card(txn.customer, at)
        value = txn.refund_amount
        if self._take_hook("voucher_mismatch", txn.index, txn.refund_kind == "refund"):
            value = txn.refund_amount + 1000
            self.samples["voucher_mismatch"].append((txn, card, value))
        self.giftcard_transaction(card, "Credit", value, at, txn.txn_id,
                                   txn.extra["payment_id"], f"refund-{txn.extra['payment_id']}",
                                   f"Reembolso do pedido {txn.txn_id} via vale")
        card["balance"] += value
        card["credits"].append((at, value))
        self.truth.giftcards["credited_amount"] += txn.refund_amount
        self.truth.giftcards["voucher_refunds"] += 1
        self.truth.giftcards["balance_amount"] += txn.refund_amount
        if len(self.samples["voucher"]) < 3:
            self.samples["voucher"].append((txn, card))

    def _giftcard_debit(self, card: dict, txn: Txn, amount: int, at: datetime) -> None:
        self.giftcard_transaction(card, "Debit", amount, at, txn.txn_id, None,
                                   f"order-{txn.txn_id}", f"Pagamento do pedido {txn.txn_id}")
        card["balance"] -= amount
        card["debited"] += amount
        self.truth.giftcards["redeemed_amount"] += amount
        self.truth.giftcards["redemptions"] += 1
        self.truth.giftcards["balance_amount"] -= amount
