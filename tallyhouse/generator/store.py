"""The own store's orders paid by PIX (Braspag) with splits and gift cards."""

from __future__ import annotations

from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.catalog import (
    STORE_PRODUCTS,
)
from tallyhouse.generator.model import (
    Txn,
    build_lifecycle,
    rng_uuid,
)
from tallyhouse.generator.state import (
    SPLIT_SETTLEMENT_DAYS,
    GeneratorState,
)


class StoreOrders(GeneratorState):
    """Store orders, their PIX payments, splits and refunds."""

    # ------------------------------------------------------------------ own store (PIX)

    def _store_order(self, at: datetime, cust: int) -> None:
        rng = self.rng
        items = []
        for product in rng.sample(STORE_PRODUCTS, rng.randrange(1, 4)):
            items.append((product, rng.randrange(1, 3)))
        total = sum(product.price_cents * qty for product, qty in items)
        txn = self.make_txn("pix", at, cust, 0, price_cents=total, method=("Pix", "pix"),
                             currency="BRL")
        card = self.cards.get(cust)
        giftcard_amount = 0
        # Only what was credited by now can pay (credits are written when decided, which
        # may be ahead of this order's time).
        available = 0
        if card:
            available = sum(v for when, v in card["credits"] if when <= at) - card["debited"]
        if available > 0 and total > 200 and rng.random() < 0.7:
            giftcard_amount = min(available, total - 100)
        pix_amount = total - giftcard_amount
        txn.extra.update(payment_id=rng_uuid(rng), pix_amount=pix_amount,
                         giftcard_amount=giftcard_amount, items=items)
        if rng.random() < 0.6:
            mdr = rng.choice((5, 8, 10))
            base = pix_amount
            if self._take_hook("split_base", txn.index, giftcard_amount > 0):
                base = total
            master_amount = (base * mdr + 50) // 100 + 30
            txn.extra["split"] = {
                "subordinate": rng.choice(self.consultants), "master": self.master_merchant,
                "base": base, "mdr": float(mdr), "fee": 30,
                "subordinate_amount": base - master_amount, "master_amount": master_amount,
            }
            txn.affiliate = base - master_amount
            if base != pix_amount:
                self.samples["split_base"].append((txn, total, giftcard_amount))
        build_lifecycle(rng, txn, allow_chargeback=False)
        approved = txn.approved_at
        refund_step = next((s for s in txn.steps if s.status in ("refunded",
                                                                 "partially_refunded")), None)
        if approved:
            shipped = approved + timedelta(days=rng.uniform(1, 3))
            txn.extra["shipped_at"] = shipped
            txn.extra["delivered_at"] = shipped + timedelta(days=rng.uniform(2, 8))
        if refund_step is not None:
            recommended = self._recommended_refund(txn, txn.refund_requested_at)
            if refund_step.status == "partially_refunded":
                taken = "direct"
            elif recommended == "voucher_or_direct":
                taken = rng.choice(("voucher", "direct"))
            elif rng.random() < 0.05:
                taken = "direct" if recommended == "voucher" else "voucher"
            else:
                taken = recommended
            txn.extra["refund_method"] = taken
            txn.extra["refund_recommended"] = recommended
        self._write_store_order(txn, at, "payment-pending")
        if giftcard_amount and approved and approved < self.end:
            self._giftcard_debit(card, txn, giftcard_amount, approved)
        self._emit_sale(txn)
        t = self.truth.pix
        if approved and approved < self.end:
            t["orders_paid"] += 1
            t["order_total_amount"] += total
            t["giftcard_paid_amount"] += giftcard_amount
            t["split_base_amount"] += pix_amount if "split" in txn.extra else 0
            t["orders_with_split"] += int("split" in txn.extra)
            final_at = txn.extra["delivered_at"]
            if final_at < self.end:
                self._write_store_order(txn, final_at, "invoiced")
        if refund_step is not None and refund_step.at < self.end:
            method = txn.extra["refund_method"]
            t[f"refund.{method}.count"] += 1
            t[f"refund.{method}.amount"] += txn.refund_amount
            t[f"refund.recommended.{txn.extra['refund_recommended']}"] += 1
            if method == "voucher":
                self._voucher_refund(txn, refund_step.at)

    def _recommended_refund(self, txn: Txn, requested: datetime) -> str:
        """The refund policy for a paid PIX order (docs/money.md)."""
        split = txn.extra.get("split")
        approved = txn.approved_at
        if split and requested >= approved + timedelta(days=SPLIT_SETTLEMENT_DAYS):
            return "voucher"  # split already settled
        delivered = txn.extra.get("delivered_at")
        if delivered and requested >= delivered:
            return "voucher"
        if txn.extra.get("shipped_at") and requested >= txn.extra["shipped_at"]:
            return "voucher_or_direct"
        return "direct"

    def _write_store_order(self, txn: Txn, at: datetime, status: str) -> None:
        buyer = render.customer(txn.customer)
        payments = []
        if txn.extra["giftcard_amount"]:
            payments.append({"paymentSystem": "GiftCard", "value": txn.extra["giftcard_amount"],
                             "giftCardId": self.cards[txn.customer]["id"]})
        payments.append({"paymentSystem": "PIX", "value": txn.extra["pix_amount"],
                         "tid": txn.extra["payment_id"]})
        split = txn.extra.get("split")
        order = {
            "orderId": txn.txn_id,
            "creationDate": txn.ordered_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "lastChange": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "status": status,
            "value": txn.offer_price,
            "totalValue": txn.offer_price,
            "totals": [{"id": "Items", "name": "Total dos Itens", "value": txn.offer_price},
                       {"id": "Discounts", "name": "Total dos Descontos", "value": 0},
                       {"id": "Shipping", "name": "Total do Frete", "value": 0}],
            "items": [{"id": product.sku, "productId": product.sku, "name": product.name,
                       "quantity": qty, "price": product.price_cents,
                       "sellingPrice": product.price_cents}
                      for product, qty in txn.extra["items"]],
            "clientProfileData": {"email": buyer["email"], "firstName": buyer["first"],
                                  "lastName": buyer["last"], "document": buyer["document"]},
            "payments": payments,
            "consultantId": split["subordinate"] if split else None,
            "shippingData": {
                "shippedDate": txn.extra["shipped_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
                if status == "invoiced" else None,
                "deliveredDate": txn.extra["delivered_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
                if status == "invoiced" else None,
            },
        }
        self.deliver("pix", "pix_orders", order, at, webhook=False)
