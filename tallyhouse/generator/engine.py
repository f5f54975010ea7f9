"""Deterministic, streaming generator of every landing feed tallyhouse reads.

The world is generated day by day. Each transaction's whole lifecycle is decided
when it is created; its events are written at once into the daily file of the day
they are *delivered* (event time + a delivery lag), so files hold events out of
order, late events land in later files, some webhooks are delivered twice and the
last hour of a day is delivered again at the start of the next day's file.
Memory stays bounded: only open subscriptions, gift-card balances and points
accounts are kept, never the transactions themselves.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from tallyhouse.generator import render
from tallyhouse.generator.catalog import (
    CAMPAIGNS,
    COMPANY_NAMES,
    DIGITAL_PRODUCTS,
    EXTERNAL_VENDORS,
    PORTFOLIO_VENDOR,
    REDEMPTION_PRODUCTS,
    STORE_PRODUCTS,
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
from tallyhouse.sources import FEEDS

PLATFORM_SHARE = (("hotmart", 40), ("kiwify", 25), ("eduzz", 15), ("pix", 20))
CURRENCIES = {
    "hotmart": (("BRL", 80), ("USD", 13), ("EUR", 7)),
    "kiwify": (("BRL", 92), ("USD", 8)),
    "eduzz": (("BRL", 95), ("USD", 5)),
    "pix": (("BRL", 100),),
}
FX_DIVISOR = {"BRL": 1.0, "USD": 5.0, "EUR": 6.0}
SALE_EVIDENCE = {"approved", "complete", "disputed", "refunded", "partially_refunded"}
PAYOUT_WEEKDAY = 0  # Mondays
PIX_SETTLEMENT_DAYS = 2
SPLIT_SETTLEMENT_DAYS = 2
DEFAULT_START = date(2026, 5, 1)
DEFAULT_DAYS = 184


@dataclass
class GenerateConfig:
    out: Path
    transactions: int
    seed: int = 42
    anomalies: bool = False
    start: date = DEFAULT_START
    days: int = DEFAULT_DAYS
    gzip: bool = False  # write every extract as <name>.gz, as real exports often come


def _cents_dict() -> defaultdict:
    return defaultdict(int)


@dataclass
class Truth:
    """Ground truth, accumulated in integer cents / points and written as JSON."""

    sales: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(_cents_dict)))
    payouts: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(_cents_dict)))
    subscriptions: dict = field(default_factory=lambda: defaultdict(_cents_dict))
    platform_events: dict = field(default_factory=lambda: defaultdict(_cents_dict))
    points: dict = field(default_factory=_cents_dict)
    redemptions: dict = field(default_factory=_cents_dict)
    giftcards: dict = field(default_factory=_cents_dict)
    pix: dict = field(default_factory=_cents_dict)
    records: dict = field(default_factory=_cents_dict)  # distinct records per feed
    customers: set = field(default_factory=set)
    products: dict = field(default_factory=lambda: defaultdict(_cents_dict))


class Generator:
    def __init__(self, config: GenerateConfig, progress: Callable[[str], None] | None = None,
                 advance: Callable[[int, int], None] | None = None):
        from tallyhouse.generator.writer import DailyFiles

        self.cfg = config
        self.rng = random.Random(config.seed)
        self.progress = progress or (lambda message: None)
        # (transactions created so far, transactions asked for), once a generated day
        self.advance = advance or (lambda done, total: None)
        self.start = datetime(config.start.year, config.start.month, config.start.day,
                              tzinfo=UTC)
        self.end = self.start + timedelta(days=config.days)
        self.files = DailyFiles(
            config.out, {feed.name: feed.columns for feed in FEEDS if feed.fmt == "csv"})
        self.truth = Truth()
        self.customer_pool = max(50, config.transactions // 3)
        self.created = 0
        self.subs: list[tuple[datetime, int, dict]] = []
        self.sub_seq = 0
        self.cards: dict[int, dict] = {}  # customer -> gift card
        self.voucher_holders: list[int] = []
        self.card_seq = 0
        self.products_by_platform = {
            platform: [i for i, p in enumerate(DIGITAL_PRODUCTS) if platform in p.platforms]
            for platform, _ in PLATFORM_SHARE if platform != "pix"
        }
        self.consultants = [render.stable_uuid("consultant", i) for i in range(40)]
        self.master_merchant = render.stable_uuid("store-master-merchant")
        self.samples: dict[str, list] = defaultdict(list)
        self.anomaly_hooks: dict[str, int] = {}
        self.anomalies: list[dict] = []
        self._init_loyalty()

    # ------------------------------------------------------------------ delivery

    def _write_json(self, source: str, feed: str, moment: datetime, payload: object) -> None:
        self.files.write_line(source, feed, moment.date(), orjson.dumps(payload) + b"\n")

    def deliver(self, source: str, feed: str, payload: object, event_at: datetime,
                webhook: bool = True) -> bool:
        """Write one record into the file of the day it is delivered. False if not yet."""
        if event_at >= self.end:
            return False
        rng = self.rng
        roll = rng.random()
        if not webhook:
            lag = rng.uniform(60, 3600)
        elif roll < 0.90:
            lag = rng.uniform(0.2, 60)
        elif roll < 0.98:
            lag = rng.uniform(60, 1800)
        else:
            lag = rng.uniform(3600, 48 * 3600)
        delivered = event_at + timedelta(seconds=lag)
        if delivered >= self.end:
            return False
        line = orjson.dumps(payload) + b"\n"
        self.files.write_line(source, feed, delivered.date(), line)
        self.truth.records[feed] += 1
        next_day = delivered.date() + timedelta(days=1)
        if delivered.hour == 23 and next_day < self.end.date():
            # Daily extracts overlap: the last hour comes again in tomorrow's file.
            self.files.write_line(source, feed, next_day, line)
        if webhook and rng.random() < 0.02:
            again = delivered + timedelta(seconds=rng.uniform(300, 7200))
            if again < self.end:
                self.files.write_line(source, feed, again.date(), line)
        return True

    # ------------------------------------------------------------------ main loop

    def run(self) -> dict:
        started = time.monotonic()
        cfg = self.cfg
        total = cfg.transactions
        self._plan_anomaly_hooks()
        report_every = max(1, cfg.days // 10)
        for day_index in range(cfg.days):
            day_start = self.start + timedelta(days=day_index)
            day_end = day_start + timedelta(days=1)
            target = (total * (day_index + 1)) // cfg.days
            today = target - self.created
            if day_start.day == 1 or day_index == 0:
                self._monthly_credits(day_start)
            while self.subs and self.subs[0][0] < day_end and today > 0:
                due, _, sub = heapq.heappop(self.subs)
                self._recurrence(sub, due)
                today -= 1
            times = sorted(day_start + timedelta(seconds=self.rng.uniform(0, 86399))
                           for _ in range(max(0, today)))
            for at in times:
                self._new_purchase(at)
            self._abandoned_carts(day_start, max(1, len(times) // 30))
            self._redemption_day(day_start)
            self.advance(self.created, total)
            if (day_index + 1) % report_every == 0 or day_index == cfg.days - 1:
                self.progress(
                    f"  {day_start.date()}: {self.created:,}/{total:,} transactions "
                    f"({time.monotonic() - started:.0f}s)")
        self._close_open_orders()
        clean_transactions = self.created  # before any injected anomaly
        if cfg.anomalies:
            from tallyhouse.generator.anomalies import inject

            inject(self)
        self.files.close()
        return self._write_outputs(time.monotonic() - started, clean_transactions)

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

    def _make_txn(self, platform: str, at: datetime, cust: int, product_index: int,
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
        txn = self._make_txn(platform, at, cust, product_index,
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
        self._payout_lines(txn)

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

    # ------------------------------------------------------------------ payouts

    def _next_payout_date(self, moment: datetime) -> date:
        day = moment.date() + timedelta(days=1)
        while day.weekday() != PAYOUT_WEEKDAY:
            day += timedelta(days=1)
        return day

    def _payout_lines(self, txn: Txn) -> None:
        approved = txn.approved_at
        if approved is None:
            return
        if txn.platform == "pix":
            eligible = approved + timedelta(days=PIX_SETTLEMENT_DAYS)
            amount = txn.producer_net - txn.extra.get("giftcard_amount", 0)
        else:
            eligible = approved + timedelta(days=txn.warranty_days + 1)
            amount = txn.producer_net
        reversal_at = txn.refund_settled_at
        if reversal_at is not None and reversal_at <= eligible:
            return  # refunded before the money was released: never paid out
        payout_day = self._next_payout_date(eligible)
        eligible_at = eligible
        eligible = txn.platform == "hotmart" and payout_day < self.end.date()
        # A sale left unpaid must be overdue by the end date: released three weeks before.
        overdue = eligible and eligible_at.date() + timedelta(days=21) < self.end.date()
        if self._take_hook("payout_skip", txn.index, overdue):
            self.samples["payout_skipped"].append((txn, payout_day, amount))
            return
        reported = amount
        if self._take_hook("payout_mismatch", txn.index, eligible):
            reported = amount - 321
            self.samples["payout_mismatch"].append((txn, payout_day, amount, reported))
        self._write_payout(txn, payout_day, "sale", reported, clean_amount=amount)
        if reversal_at is not None:
            method = txn.extra.get("refund_method")
            if txn.platform == "pix" and method == "voucher":
                return  # voucher refunds move no money through the gateway
            line_type = "chargeback" if txn.refund_kind == "chargeback" else "refund"
            reversed_amount = txn.refund_amount if txn.platform == "pix" else txn.producer_net
            self._write_payout(txn, self._next_payout_date(reversal_at), line_type,
                               -reversed_amount)

    def _write_payout(self, txn: Txn, payout_day: date, line_type: str, amount: int,
                      clean_amount: int | None = None) -> None:
        if payout_day >= self.end.date():
            return
        payout_id = f"PO-{txn.platform.upper()}-{txn.currency}-{payout_day:%Y%m%d}"
        self.files.write_row("payouts", "payout_lines", payout_day, (
            payout_id, txn.platform, payout_day.isoformat(), line_type, txn.txn_id,
            txn.currency, render.money_text(amount)))
        self.truth.records["payout_lines"] += 1
        p = self.truth.payouts[txn.platform][txn.currency]
        p[f"{line_type}.count"] += 1
        p[f"{line_type}.amount"] += clean_amount if clean_amount is not None else amount
        p["lines"] += 1
        p["amount"] += clean_amount if clean_amount is not None else amount

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
        txn = self._make_txn(sub["platform"], at, sub["customer"], sub["product_index"],
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

    # ------------------------------------------------------------------ own store (PIX)

    def _store_order(self, at: datetime, cust: int) -> None:
        rng = self.rng
        items = []
        for product in rng.sample(STORE_PRODUCTS, rng.randrange(1, 4)):
            items.append((product, rng.randrange(1, 3)))
        total = sum(product.price_cents * qty for product, qty in items)
        txn = self._make_txn("pix", at, cust, 0, price_cents=total, method=("Pix", "pix"),
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
        self._write_json("giftcards", "giftcard_cards", at, payload)
        self.truth.records["giftcard_cards"] += 1
        self.truth.giftcards["cards"] += 1
        return card

    def _giftcard_transaction(self, card: dict, operation: str, value: int, at: datetime,
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
        self._write_json("giftcards", "giftcard_transactions", at, payload)
        self.truth.records["giftcard_transactions"] += 1
        return payload

    def _voucher_refund(self, txn: Txn, at: datetime) -> None:
        card = self._giftcard_card(txn.customer, at)
        value = txn.refund_amount
        if self._take_hook("voucher_mismatch", txn.index, txn.refund_kind == "refund"):
            value = txn.refund_amount + 1000
            self.samples["voucher_mismatch"].append((txn, card, value))
        self._giftcard_transaction(card, "Credit", value, at, txn.txn_id,
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
        self._giftcard_transaction(card, "Debit", amount, at, txn.txn_id, None,
                                   f"order-{txn.txn_id}", f"Pagamento do pedido {txn.txn_id}")
        card["balance"] -= amount
        card["debited"] += amount
        self.truth.giftcards["redeemed_amount"] += amount
        self.truth.giftcards["redemptions"] += 1
        self.truth.giftcards["balance_amount"] -= amount

    # ------------------------------------------------------------------ loyalty

    def _init_loyalty(self) -> None:
        rng = self.rng
        count = max(4, min(200, self.cfg.transactions // 5000))
        self.companies = []
        for i in range(count):
            name = COMPANY_NAMES[i % len(COMPANY_NAMES)]
            if i >= len(COMPANY_NAMES):
                name = f"{name} {i // len(COMPANY_NAMES) + 1}"
            managers = []
            for m in range(rng.randrange(1, 4)):
                person = render.customer(10_000_000 + i * 10 + m)
                managers.append((render.stable_uuid("manager", i, m), person["email"],
                                 person["name"]))
            self.companies.append({
                "id": render.stable_uuid("company", i), "name": name,
                "account": f"LA-{i + 1:05d}", "managers": managers,
                "credits": 0, "confirmed": 0, "held": 0,
            })
        self.redemption_seq = 0
        self.orders_per_day = max(20, self.cfg.transactions // 40) / self.cfg.days
        self.externals_per_day = max(10, self.cfg.transactions // 80) / self.cfg.days
        self.open_orders: list[tuple] = []

    def _entry(self, company: dict, entry_type: str, points: int, at: datetime, vendor: str = "",
               vendor_kind: str = "", order_number: str = "", auth_id: str = "",
               external_id: str = "") -> None:
        if at >= self.end:
            return
        self.files.write_row("loyalty", "loyalty_entries", at.date(), (
            rng_uuid(self.rng), company["account"], entry_type, points, vendor, vendor_kind,
            order_number, auth_id, external_id, at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        self.truth.records["loyalty_entries"] += 1
        self.truth.points[f"{entry_type}.count"] += 1
        self.truth.points[f"{entry_type}.points"] += points
        if len(self.samples[f"loyalty_{entry_type}"]) < 3:
            self.samples[f"loyalty_{entry_type}"].append((company, points, at, auth_id))

    def _monthly_credits(self, day_start: datetime) -> None:
        # Enough to cover a month of redemptions on average, so most orders go through
        # and some companies still run short.
        demand = (self.orders_per_day * 90_000 + self.externals_per_day * 10_500) * 30
        mean = demand / len(self.companies)
        for company in self.companies:
            points = int(mean * self.rng.uniform(0.7, 1.6)) // 100 * 100
            at = day_start  # credited at midnight, before the day's redemptions
            company["credits"] += points
            self._entry(company, "credit", points, at)

    def _available(self, company: dict) -> int:
        return company["credits"] - company["confirmed"] - company["held"]

    def _redemption_day(self, day_start: datetime) -> None:
        rng = self.rng
        orders = int(self.orders_per_day) + (rng.random() < self.orders_per_day % 1)
        for _ in range(orders):
            self._redemption_order(day_start + timedelta(seconds=rng.uniform(1, 86399)))
        externals = int(self.externals_per_day) + (rng.random() < self.externals_per_day % 1)
        for _ in range(externals):
            self._external_redemption(day_start + timedelta(seconds=rng.uniform(1, 86399)))

    def _hold_outcome(self, company: dict, points: int, at: datetime, vendor: str, kind: str,
                      order_number: str, external_id: str) -> tuple[str, datetime | None]:
        """authorize, then confirm / cancel / leave open. Returns (outcome, resolved_at)."""
        rng = self.rng
        auth_id = rng_uuid(rng)
        company["held"] += points
        self._entry(company, "authorize", points, at, vendor, kind, order_number, auth_id,
                    external_id)
        roll = rng.random()
        resolved = at + timedelta(minutes=rng.uniform(1, 120))
        if roll < 0.03 or resolved >= self.end:
            self.truth.points["open_holds"] += 1
            self.truth.points["open_hold_points"] += points
            return "open", None
        company["held"] -= points
        if roll < 0.12:
            self._entry(company, "cancel", points, resolved, vendor, kind, order_number, auth_id,
                        external_id)
            return "cancelled", resolved
        company["confirmed"] += points
        self._entry(company, "confirm", points, resolved, vendor, kind, order_number, auth_id,
                    external_id)
        kind_key = "confirmed_auth" if order_number else "confirmed_auth_external"
        if len(self.samples[kind_key]) < 3:
            self.samples[kind_key].append((company, points, resolved, auth_id, order_number))
        return "confirmed", resolved

    def _redemption_order(self, at: datetime) -> None:
        rng = self.rng
        company = rng.choice(self.companies)
        manager = rng.choice(company["managers"])
        self.redemption_seq += 1
        number = f"RO-{self.redemption_seq:07d}"
        items = []
        for product in rng.sample(REDEMPTION_PRODUCTS, rng.randrange(1, 4)):
            items.append((product, rng.randrange(1, 3)))
        total = sum(product[3] * qty for product, qty in items)
        if self._available(company) < total:
            outcome, resolved = "rejected", at
        else:
            outcome, resolved = self._hold_outcome(company, total, at, PORTFOLIO_VENDOR,
                                                   "portfolio", number, "")
        status = {"confirmed": "COMPLETED", "cancelled": "CANCELLED", "open": "PENDING",
                  "rejected": "REJECTED"}[outcome]
        reported_total = total
        if self._take_hook("order_points", self.redemption_seq, status == "COMPLETED"):
            reported_total = total + 500
            self.samples["order_points"].append((number, total, reported_total, company))
        record = (number, company, manager, reported_total, status, at, resolved, items, outcome)
        if outcome == "open":
            self.open_orders.append(record)
        else:
            self._write_redemption(record, resolved or at)

    def _write_redemption(self, record: tuple, written_at: datetime) -> None:
        number, company, manager, total, status, at, resolved, items, outcome = record
        if at >= self.end:
            return
        day = min(written_at, self.end - timedelta(seconds=1)).date()
        self.files.write_row("redemptions", "redemption_orders", day, (
            number, company["id"], company["name"], company["account"], manager[0], manager[1],
            manager[2], total, status, at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            resolved.strftime("%Y-%m-%dT%H:%M:%SZ") if status == "COMPLETED" else ""))
        self.truth.records["redemption_orders"] += 1
        r = self.truth.redemptions
        r[f"orders.{status}.count"] += 1
        r[f"orders.{status}.points"] += total
        for position, (product, qty) in enumerate(items, start=1):
            sku, name, kind, points = product
            if status == "COMPLETED":
                fulfilment = "DELIVERED" if kind == "VIRTUAL" else self.rng.choice(
                    ("SHIPPED", "DELIVERED"))
            elif status == "PENDING":
                fulfilment = "PENDING"
            else:
                fulfilment = "CANCELLED"
            self.files.write_row("redemptions", "redemption_items", day, (
                f"{number}-{position}", number, sku, name, kind, qty, points, fulfilment))
            self.truth.records["redemption_items"] += 1
            r["items.count"] += 1
            r[f"items.{kind}.points"] += points * qty

    def _close_open_orders(self) -> None:
        for record in self.open_orders:
            self._write_redemption(record, self.end - timedelta(seconds=1))

    def _external_redemption(self, at: datetime) -> None:
        rng = self.rng
        company = rng.choice(self.companies)
        points = rng.randrange(10, 200) * 100
        if self._available(company) < points:
            return
        self._hold_outcome(company, points, at, rng.choice(EXTERNAL_VENDORS), "external", "",
                           rng_uuid(rng))
        self.truth.points["external_redemptions"] += 1

    # ------------------------------------------------------------------ anomalies

    def _plan_anomaly_hooks(self) -> None:
        """Where generation itself must produce a broken record (--anomalies).

        Each hook fires on the first eligible entity at or after its index, early in
        the period so that the broken entity is complete by the end date.
        """
        if not self.cfg.anomalies:
            return
        n = self.cfg.transactions
        self.anomaly_hooks = {"payout_skip": 0, "payout_mismatch": n // 10,
                              "voucher_mismatch": n // 20, "split_base": n // 20,
                              "order_points": 3}

    def _take_hook(self, name: str, index: int, eligible: bool) -> bool:
        start = self.anomaly_hooks.get(name)
        if start is None or index < start or not eligible:
            return False
        del self.anomaly_hooks[name]
        return True

    # ------------------------------------------------------------------ outputs

    def _write_outputs(self, seconds: float, clean_transactions: int) -> dict:
        truth = self._truth_document(seconds, clean_transactions)
        (self.cfg.out / "_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
        if self.cfg.anomalies:
            (self.cfg.out / "_anomalies.json").write_text(
                json.dumps({"seed": self.cfg.seed, "anomalies": self.anomalies}, indent=2,
                           ensure_ascii=False))
        return {"seconds": seconds, "files": len(self.files.files()),
                "records": sum(self.files.records.values()), "transactions": clean_transactions,
                "anomalies": len(self.anomalies)}

    def _truth_document(self, seconds: float, transactions: int) -> dict:
        def money_map(values: dict, money_keys: tuple[str, ...]) -> dict:
            out = {}
            for key, value in sorted(values.items()):
                is_money = key.endswith(money_keys)
                out[key] = render.money_text(value) if is_money else value
            return out

        money_suffixes = ("amount", "price", "offer_price")
        return {
            "generator": {
                "seed": self.cfg.seed, "transactions": transactions,
                "start": self.start.date().isoformat(),
                "end_exclusive": self.end.date().isoformat(), "anomalies": self.cfg.anomalies,
                "seconds": round(seconds, 1),
            },
            "definitions": {
                "scope": "Describes the data as generated before any --anomalies injection. "
                         "Only what was delivered by the end date counts.",
                "money": "Decimal strings in the transaction's currency; never summed across "
                         "currencies.",
                "final_status": "Normalized status of the delivered event with the latest "
                                "event time.",
                "approved": "Transactions the platform reported approved at some point "
                            "(approved, complete, disputed, refunded or partially refunded).",
                "refund": "Refunds and partial refunds delivered; chargeback = dispute lost.",
                "payouts": "Statement lines per platform and currency; PIX sale lines pay the "
                           "master's share of the PIX part (producer net minus gift-card part).",
                "records": "Distinct records per feed (exact re-deliveries excluded).",
            },
            "sales": {
                platform: {cur: money_map(values, money_suffixes)
                           for cur, values in sorted(by_cur.items())}
                for platform, by_cur in sorted(self.truth.sales.items())
            },
            "payouts": {
                platform: {cur: money_map(values, money_suffixes)
                           for cur, values in sorted(by_cur.items())}
                for platform, by_cur in sorted(self.truth.payouts.items())
            },
            "subscriptions": {k: dict(v) for k, v in sorted(self.truth.subscriptions.items())},
            "platform_events": {k: dict(v)
                                for k, v in sorted(self.truth.platform_events.items())},
            "customers": len(self.truth.customers),
            "final_status_by_product": {k: dict(sorted(v.items()))
                                        for k, v in sorted(self.truth.products.items())},
            "points": dict(sorted(self.truth.points.items())) | {
                "balance_points": sum(c["credits"] - c["confirmed"] for c in self.companies),
                "accounts": len(self.companies),
            },
            "redemptions": dict(sorted(self.truth.redemptions.items())),
            "giftcards": money_map(self.truth.giftcards, money_suffixes),
            "pix": money_map(self.truth.pix, money_suffixes),
            "records": dict(sorted(self.truth.records.items())),
        }


def generate(config: GenerateConfig, progress: Callable[[str], None] | None = None,
             advance: Callable[[int, int], None] | None = None) -> dict:
    """Write the extracts, ``_truth.json`` (and ``_anomalies.json``) into ``config.out``.
    ``progress`` receives a line now and then; ``advance`` the transactions created so far
    and the total, once a generated day (for a progress bar)."""
    out = config.out
    if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise FileExistsError(f"{out} is not empty: generate into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    if config.transactions < 1:
        raise ValueError("--transactions must be at least 1")
    summary = Generator(config, progress, advance).run()
    if config.gzip:
        compress_extracts(out, progress)
    return summary


def compress_extracts(out: Path, progress: Callable[[str], None] | None = None) -> int:
    """Replace every extract under ``out/<source>/`` by its gzip (``.gz``), keeping its
    modification time; the ground-truth files at the top stay as they are."""
    import gzip
    import os
    import shutil

    files = sorted(p for p in out.glob("*/*") if p.is_file() and not p.name.endswith(".gz"))
    for index, path in enumerate(files, start=1):
        target = path.with_name(path.name + ".gz")
        with path.open("rb") as source, gzip.open(target, "wb", compresslevel=5) as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        stat = path.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        path.unlink()
        if progress and (index % 200 == 0 or index == len(files)):
            progress(f"compressed {index}/{len(files)} extracts")
    return len(files)
