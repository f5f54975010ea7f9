"""Platform sales (Hotmart, Kiwify, Eduzz) and abandoned carts."""

from __future__ import annotations

from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.catalog import (
    CAMPAIGNS,
    DIGITAL_PRODUCTS,
    TRAFFIC_SOURCES,
    UTM_MEDIUMS,
)
from tallyhouse.generator.model import (
    EMISSIONS,
    INTERNATIONAL_METHODS,
    PAYMENT_METHODS,
    Txn,
    build_lifecycle,
    money_breakdown,
    rng_uuid,
    weighted,
)
from tallyhouse.generator.state import (
    CURRENCIES,
    FX_DIVISOR,
    PLATFORM_SHARE,
    SALE_EVIDENCE,
    GeneratorState,
)


class PlatformSales(GeneratorState):
    """New purchases, their lifecycle events and what the truth counts of them."""

    # ------------------------------------------------------------------ purchases

    def _pick_customer(self) -> int:
        # Skewed towards low indexes: repeat buyers, often on more than one platform.
        return int(self.customer_pool * self.rng.random() ** 1.6)

    def _tracking(self) -> dict:
        rng = self.rng
        src = rng.choice(TRAFFIC_SOURCES)
        affiliate_id = rng.randrange(1, 400)
        return {
            "src": src,
            "sck": f"{src[:3]}_{rng.randrange(1, 60):02d}" if rng.random() < 0.6 else None,
            "xcod": f"x{rng.randrange(1000, 9999)}" if rng.random() < 0.3 else None,
            "utm_source": src if rng.random() < 0.8 else None,
            "utm_medium": rng.choice(UTM_MEDIUMS) if rng.random() < 0.8 else None,
            "utm_campaign": rng.choice(CAMPAIGNS) if rng.random() < 0.7 else None,
            "utm_content": f"criativo_{rng.randrange(1, 20)}" if rng.random() < 0.5 else None,
            "utm_term": None,
            "affiliate_id": affiliate_id,
            "affiliate_name": f"Afiliado {affiliate_id}",
        }

    def make_txn(self, platform: str, at: datetime, cust: int, product_index: int,
                  price_cents: int | None = None, sub: dict | None = None,
                  method: tuple[str, str] | None = None, currency: str | None = None) -> Txn:
        rng = self.rng
        index = self.created
        self.created += 1
        currency = currency or weighted(rng, list(CURRENCIES[platform]))[0]
        if method is None:
            options = PAYMENT_METHODS[platform]
            if currency != "BRL":
                options = [o for o in options if o[1] in INTERNATIONAL_METHODS]
            raw, normalized, _ = weighted(rng, options)
        else:
            raw, normalized = method
        installments = 1
        # Eduzz's postback carries no installment count: its sales are shown as paid at once.
        if normalized == "credit_card" and platform != "eduzz" and rng.random() < 0.5 \
                and sub is None:
            installments = rng.randrange(2, 13)
        elif normalized == "boleto_installment":
            installments = rng.randrange(2, 7)
        product = DIGITAL_PRODUCTS[product_index] if platform != "pix" else None
        base = price_cents if price_cents is not None else product.price_cents
        if currency != "BRL":
            base = max(990, int(base / FX_DIVISOR[currency]) // 100 * 100 + 90)
        coupon = None
        offer = base
        if sub is None and platform != "pix" and rng.random() < 0.3:
            discount = rng.choice((10, 20, 30, 40))
            offer = base * (100 - discount) // 100
            coupon = f"DESC{discount}"
        customer_paid, fee, affiliate, coproducer = money_breakdown(rng, platform, offer,
                                                                    installments)
        if platform == "hotmart":
            txn_id = f"HP{(index * 7919 + 10 ** 13) % 10 ** 14:014d}"
        elif platform == "kiwify":
            txn_id = rng_uuid(rng)
        elif platform == "eduzz":
            txn_id = str(50_000_000 + index)
        else:
            txn_id = f"v{10_000_000 + index}-01"
        txn = Txn(
            platform=platform, index=index, txn_id=txn_id, ordered_at=at, customer=cust,
            product_index=product_index, currency=currency, method_raw=raw, method=normalized,
            installments=installments, base_price=base, offer_price=offer,
            customer_paid=customer_paid, fee=fee, affiliate=affiliate, coproducer=coproducer,
            offer_code=render.stable_uuid("offer", platform, product_index, coupon)[:8],
            coupon=coupon, tracking=self._tracking(),
            warranty_days=product.warranty_days if product else 7, subscription=sub,
        )
        if platform == "kiwify":
            txn.extra["order_ref"] = txn_id.replace("-", "")[:7]
        return txn

    def _new_purchase(self, at: datetime) -> None:
        platform = weighted(self.rng, list(PLATFORM_SHARE))[0]
        cust = self._pick_customer()
        if platform == "pix":
            # Vouchers bring customers back to the store.
            if self.voucher_holders and self.rng.random() < 0.25:
                cust = self.rng.choice(self.voucher_holders)
            self._store_order(at, cust)
            return
        product_index = self.rng.choice(self.products_by_platform[platform])
        product = DIGITAL_PRODUCTS[product_index]
        sub = None
        if product.subscription:
            sub = self._new_subscription(platform, at, cust, product_index)
        txn = self.make_txn(platform, at, cust, product_index,
                             price_cents=sub["price"] if sub else None, sub=sub)
        if sub:
            sub["currency"] = txn.currency
            sub["method"] = (txn.method_raw, txn.method)
        self._emit_sale(txn)
        if sub:
            self._after_charge(sub, txn)

    def _emit_sale(self, txn: Txn) -> None:
        """Decide the lifecycle, write each event the platform sends, account the truth."""
        if not txn.steps:
            build_lifecycle(self.rng, txn,
                            allow_chargeback=txn.platform in ("hotmart", "kiwify"))
        platform = txn.platform
        delivered: list[tuple[datetime, str, str]] = []
        emissions = EMISSIONS[platform]
        feed = {"hotmart": "hotmart_webhooks", "kiwify": "kiwify_webhooks",
                "eduzz": "eduzz_webhooks", "pix": "pix_payments"}[platform]
        for step in txn.steps:
            if emissions.get(step.status) is None:
                continue
            if platform == "hotmart":
                payload, normalized = render.hotmart_purchase(txn, step.status, step.at,
                                                              rng_uuid(self.rng))
            elif platform == "kiwify":
                payload, normalized = render.kiwify_order(txn, step.status, step.at)
            elif platform == "eduzz":
                payload, normalized = render.eduzz_invoice(txn, step.status, step.at)
            else:
                payload, normalized = render.braspag_payment(txn, step.status, step.at)
            if not self.deliver(platform, feed, payload, step.at):
                # Not delivered by the end date: neither is anything the platform sends
                # later about this transaction (no status without the one before it).
                break
            delivered.append((step.at, step.status, normalized))
        if platform == "hotmart" and txn.approved_at and self.rng.random() < 0.3:
            access_at = txn.approved_at + timedelta(hours=self.rng.uniform(0.1, 72))
            if self.deliver("hotmart", "hotmart_webhooks",
                            render.hotmart_club_access(txn.product_index, txn.customer,
                                                       access_at, rng_uuid(self.rng)),
                            access_at):
                self.truth.platform_events[platform]["non_sales_events"] += 1
        self._account_sale(txn, delivered)
        self.payout_lines(txn)

    def _account_sale(self, txn: Txn, delivered: list[tuple[datetime, str, str]]) -> None:
        if not delivered:
            return  # the platform has told us nothing yet: not in the marts either
        t = self.truth.sales[txn.platform][txn.currency]
        t["transactions"] += 1
        self.truth.customers.add(txn.customer)
        final = max(delivered)[2]
        product = (txn.extra["items"][0][0].name if txn.platform == "pix"
                   else DIGITAL_PRODUCTS[txn.product_index].name)
        self.truth.products[product][final] += 1
        t[f"final_status.{final}.count"] += 1
        if final == "approved":
            t[f"final_approved.payment_method.{txn.method}.count"] += 1
            t[f"final_approved.payment_method.{txn.method}.offer_price"] += txn.offer_price
        t[f"final_status.{final}.offer_price"] += txn.offer_price
        statuses = {normalized for _, _, normalized in delivered}
        steps = {step for _, step, _ in delivered}
        if statuses & SALE_EVIDENCE:
            t["approved.count"] += 1
            t["approved.base_price"] += txn.base_price
            t["approved.offer_price"] += txn.offer_price
            t["approved.customer_paid_amount"] += txn.customer_paid
            t["approved.platform_fee_amount"] += txn.fee
            t["approved.distributable_amount"] += txn.distributable
            t["approved.partner_commission_amount"] += txn.partner_commission
            t["approved.affiliate_commission_amount"] += txn.affiliate
            t["approved.coproducer_commission_amount"] += txn.coproducer
            t["approved.producer_net_amount"] += txn.producer_net
            if txn.installments > 1:
                t["approved.installment_count"] += 1
            t[f"approved.payment_method.{txn.method}.count"] += 1
            t[f"approved.payment_method.{txn.method}.offer_price"] += txn.offer_price
        if "disputed" in steps:
            t["disputes_opened"] += 1
        if "dispute_won" in steps:
            t["disputes_won"] += 1
        for step, kind in (("refunded", "refund"), ("partially_refunded", "partial_refund"),
                           ("chargeback", "chargeback")):
            if step in steps:
                t[f"{kind}.count"] += 1
                t[f"{kind}.amount"] += txn.refund_amount
                if kind != "chargeback":
                    within = txn.refund_requested_at <= txn.approved_at + timedelta(
                        days=txn.warranty_days)
                    t[f"{kind}.within_warranty_count"] += int(within)
        if txn.subscription:
            t["subscription_transactions"] += 1

    # ------------------------------------------------------------------ abandoned carts

    def _abandoned_carts(self, day_start: datetime, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            at = day_start + timedelta(seconds=rng.uniform(0, 86399))
            platform = rng.choice(("hotmart", "hotmart", "kiwify", "eduzz"))
            product_index = rng.choice(self.products_by_platform[platform])
            cust = self._pick_customer()
            if platform == "hotmart":
                payload: object = render.hotmart_abandonment(
                    product_index, cust, at, rng_uuid(rng),
                    render.stable_uuid("offer", platform, product_index, None)[:8])
                carts = 1
            elif platform == "kiwify":
                carts = rng.randrange(1, 3)
                payload = render.kiwify_abandoned([
                    (rng.choice(self.products_by_platform["kiwify"]), self._pick_customer(), at,
                     rng_uuid(rng).replace("-", "")[:18]) for _ in range(carts)])
            else:
                payload = render.eduzz_abandonment(product_index, cust, at, rng_uuid(rng))
                carts = 1
            if self.deliver(platform, f"{platform}_webhooks", payload, at):
                self.truth.platform_events[platform]["abandoned_carts"] += carts
