"""Subscriptions: first charge, recurrences, cancellations."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.catalog import (
    DIGITAL_PRODUCTS,
)
from tallyhouse.generator.model import (
    EMISSIONS,
    Txn,
    money_breakdown,
    rng_uuid,
)
from tallyhouse.generator.state import (
    FX_DIVISOR,
    GeneratorState,
)


class Subscriptions(GeneratorState):
    """Open subscriptions and their charges."""

    # ------------------------------------------------------------------ subscriptions

    def _new_subscription(self, platform: str, at: datetime, cust: int, product_index: int
                          ) -> dict:
        rng = self.rng
        self.sub_seq += 1
        product = DIGITAL_PRODUCTS[product_index]
        plan_id = 700_000 + product_index * 10
        if platform == "hotmart":
            sub_id = f"{rng.getrandbits(40):010X}"[:8]
        elif platform == "kiwify":
            sub_id = rng_uuid(rng)
        else:
            sub_id = str(9_000_000 + self.sub_seq)
        return {
            "platform": platform, "id": sub_id, "subscriber": sub_id,
            "numeric_id": 400_000 + self.sub_seq, "plan_id": plan_id,
            "plan_name": product.plan_name or "Plano Mensal",
            "plan_key": render.stable_uuid("plan", plan_id)[:8],
            "price": product.price_cents, "started_at": at, "recurrence": 1,
            "customer": cust, "product_index": product_index, "last_txn": None,
        }

    def _after_charge(self, sub: dict, txn: Txn) -> None:
        """After a charge: schedule the next one, a plan switch or a cancellation."""
        rng = self.rng
        sub["last_txn"] = txn
        truth = self.truth.subscriptions[sub["platform"]]
        approved = txn.approved_at is not None and txn.approved_at < self.end
        if sub["recurrence"] == 1:
            if not approved:
                return  # never started
            truth["subscriptions_started"] += 1
        else:
            truth["recurrence_charges"] += 1
        if not approved:
            if rng.random() < 0.5:
                self._cancel_subscription(sub, txn.ordered_at + timedelta(days=3))
                return
        elif txn.refund_kind is not None:
            self._cancel_subscription(sub, txn.refund_settled_at + timedelta(minutes=5))
            return
        next_charge = txn.ordered_at + timedelta(days=30)
        if rng.random() < 0.06:
            self._cancel_subscription(sub, txn.ordered_at + timedelta(days=rng.uniform(1, 29)))
            return
        if sub["platform"] == "hotmart" and rng.random() < 0.08:
            switch_at = txn.ordered_at + timedelta(days=rng.uniform(1, 15))
            old = (sub["plan_id"], sub["plan_name"], sub["plan_key"])
            sub["plan_id"] += 1
            sub["plan_name"] = sub["plan_name"] + " Premium"
            sub["plan_key"] = render.stable_uuid("plan", sub["plan_id"])[:8]
            sub["price"] = sub["price"] * 3 // 2
            new = (sub["plan_id"], sub["plan_name"], sub["plan_key"])
            if self.deliver("hotmart", "hotmart_webhooks",
                            render.hotmart_switch_plan(sub, sub["product_index"], sub["customer"],
                                                       switch_at, rng_uuid(rng), old, new),
                            switch_at):
                truth["plan_switches"] += 1
        self.sub_seq += 1
        heapq.heappush(self.subs, (next_charge, self.sub_seq, sub))

    def _recurrence(self, sub: dict, due: datetime) -> None:
        sub["recurrence"] += 1
        at = due + timedelta(seconds=self.rng.uniform(0, 3600))
        txn = self.make_txn(sub["platform"], at, sub["customer"], sub["product_index"],
                             price_cents=sub["price"], sub=sub, method=sub["method"],
                             currency="BRL")
        txn.currency = sub["currency"]
        if txn.currency != "BRL":
            txn.base_price = txn.offer_price = max(
                990, int(sub["price"] / FX_DIVISOR[txn.currency]) // 100 * 100 + 90)
            txn.customer_paid, txn.fee, txn.affiliate, txn.coproducer = money_breakdown(
                self.rng, txn.platform, txn.offer_price, 1)
        self._emit_sale(txn)
        self._after_charge(sub, txn)

    def _cancel_subscription(self, sub: dict, at: datetime) -> None:
        if at >= self.end:
            return
        platform = sub["platform"]
        txn: Txn = sub["last_txn"]
        if platform == "hotmart":
            payload = render.hotmart_cancellation(sub, sub["product_index"], sub["customer"], at,
                                                  rng_uuid(self.rng), txn.offer_price)
            ok = self.deliver("hotmart", "hotmart_webhooks", payload, at)
        elif platform == "kiwify":
            step = self._last_emitted_step(txn, at)
            if step is None:
                return
            payload, _ = render.kiwify_order(txn, step, at, sub_status="canceled",
                                             event_type="subscription_canceled")
            ok = self.deliver("kiwify", "kiwify_webhooks", payload, at)
        else:
            step = self._last_emitted_step(txn, at)
            if step is None:
                return
            payload, _ = render.eduzz_invoice(txn, step, at, contract_cancel_at=at)
            ok = self.deliver("eduzz", "eduzz_webhooks", payload, at)
        if ok:
            self.truth.subscriptions[platform]["cancelled"] += 1

    @staticmethod
    def _last_emitted_step(txn: Txn, before: datetime) -> str | None:
        emissions = EMISSIONS[txn.platform]
        last = None
        for step in txn.steps:
            if step.at <= before and emissions.get(step.status) is not None:
                last = step.status
        return last
