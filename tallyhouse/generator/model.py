"""The generator's internal model of one platform transaction and its lifecycle.

Amounts are integer cents in the transaction's currency. Times are UTC datetimes.
Each platform renderer turns a Txn into the payloads that platform sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Fee schedules (percent in basis points, fixed in cents).
FEES = {
    "hotmart": (990, 100),
    "kiwify": (899, 249),
    "eduzz": (490, 100),
    "pix": (0, 0),
}
INSTALLMENT_INTEREST_BP = 199  # per extra installment, paid by the customer

# What a platform sends for an internal lifecycle step, and what it means in the
# normalized status model (docs/status-model.md): (raw status, event name, normalized status).
# ``None`` = the platform sends nothing for that step.
EMISSIONS: dict[str, dict[str, tuple[str, str, str] | None]] = {
    "hotmart": {
        "awaiting_payment": ("BILLET_PRINTED", "PURCHASE_BILLET_PRINTED", "awaiting_payment"),
        "approved": ("APPROVED", "PURCHASE_APPROVED", "approved"),
        "declined": ("CANCELED", "PURCHASE_CANCELED", "cancelled"),
        "expired": ("EXPIRED", "PURCHASE_EXPIRED", "expired"),
        "complete": ("COMPLETED", "PURCHASE_COMPLETE", "complete"),
        "refunded": ("REFUNDED", "PURCHASE_REFUNDED", "refunded"),
        "disputed": ("DISPUTE", "PURCHASE_PROTEST", "disputed"),
        "chargeback": ("CHARGEBACK", "PURCHASE_CHARGEBACK", "refunded"),
        "dispute_won": ("APPROVED", "PURCHASE_APPROVED", "approved"),
    },
    "kiwify": {
        "awaiting_payment": ("waiting_payment", "billet_created", "awaiting_payment"),
        "approved": ("paid", "order_approved", "approved"),
        "declined": ("refused", "order_rejected", "declined"),
        "refunded": ("refunded", "order_refunded", "refunded"),
        "chargeback": ("chargedback", "chargeback", "refunded"),
    },
    "eduzz": {
        "awaiting_payment": ("1", "invoice_open", "awaiting_payment"),
        "under_review": ("8", "invoice_analysing", "under_review"),
        "approved": ("3", "invoice_paid", "approved"),
        "declined": ("4", "invoice_canceled", "cancelled"),
        "expired": ("10", "invoice_expired", "expired"),
        "refund_requested": ("6", "invoice_waiting_refund", "approved"),
        "refunded": ("7", "invoice_refunded", "refunded"),
    },
    "pix": {
        "awaiting_payment": ("12", "Pending", "awaiting_payment"),
        "approved": ("2", "PaymentConfirmed", "approved"),
        "cancelled": ("10", "Voided", "cancelled"),
        "refunded": ("11", "Refunded", "refunded"),
        "partially_refunded": ("2", "PaymentConfirmed", "partially_refunded"),
    },
}

# Spellings a platform uses for the same status (reference/status_vocabularies.md).
ALTERNATE_SPELLINGS = {
    ("hotmart", "BILLET_PRINTED"): "PRINTED_BILLET",
    ("hotmart", "CANCELED"): "CANCELLED",
    ("hotmart", "COMPLETED"): "COMPLETE",
}

PAYMENT_METHODS = {
    # platform: [(raw method, normalized, weight)]
    "hotmart": [("CREDIT_CARD", "credit_card", 60), ("PIX", "pix", 18), ("BILLET", "boleto", 9),
                ("PAYPAL", "paypal", 5), ("GOOGLE_PAY", "digital_wallet", 4),
                ("FINANCED_BILLET", "boleto_installment", 3), ("DIRECT_DEBIT", "debit_card", 1)],
    "kiwify": [("credit_card", "credit_card", 65), ("pix", "pix", 25), ("boleto", "boleto", 10)],
    "eduzz": [("15", "credit_card", 30), ("13", "credit_card", 20), ("24", "credit_card", 10),
              ("32", "pix", 25), ("1", "boleto", 12), ("9", "paypal", 3)],
    "pix": [("Pix", "pix", 100)],
}
INTERNATIONAL_METHODS = {"credit_card", "paypal"}


def weighted(rng: random.Random, options: list[tuple]) -> tuple:
    total = sum(option[-1] for option in options)
    pick = rng.random() * total
    for option in options:
        pick -= option[-1]
        if pick < 0:
            return option
    return options[-1]


def rng_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from the generator's random stream (deterministic)."""
    h = f"{(rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (4 << 76) | (0x2 << 62):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Step:
    status: str  # internal lifecycle step (key of EMISSIONS)
    at: datetime


@dataclass
class Txn:
    platform: str
    index: int  # global sequence number
    txn_id: str
    ordered_at: datetime
    customer: int
    product_index: int
    currency: str
    method_raw: str
    method: str
    installments: int
    base_price: int
    offer_price: int
    customer_paid: int
    fee: int
    affiliate: int
    coproducer: int
    offer_code: str
    coupon: str | None
    tracking: dict
    warranty_days: int
    steps: list[Step] = field(default_factory=list)
    refund_kind: str | None = None  # refund | partial_refund | chargeback
    refund_amount: int = 0
    refund_requested_at: datetime | None = None
    refund_settled_at: datetime | None = None
    subscription: dict | None = None  # {id, plan_id, plan_name, subscriber, recurrence}
    extra: dict = field(default_factory=dict)

    @property
    def distributable(self) -> int:
        return self.offer_price - self.fee

    @property
    def partner_commission(self) -> int:
        return self.affiliate + self.coproducer

    @property
    def producer_net(self) -> int:
        return self.distributable - self.partner_commission

    def step_at(self, status: str) -> datetime | None:
        for step in self.steps:
            if step.status == status:
                return step.at
        return None

    @property
    def approved_at(self) -> datetime | None:
        return self.step_at("approved")


def money_breakdown(rng: random.Random, platform: str, offer_price: int, installments: int
                    ) -> tuple[int, int, int, int]:
    """customer_paid, fee, affiliate, coproducer for an offer price."""
    percent_bp, fixed = FEES[platform]
    fee = (offer_price * percent_bp + 5000) // 10000 + (fixed if percent_bp else 0)
    fee = min(fee, offer_price)
    customer_paid = offer_price
    if installments > 1:
        customer_paid = offer_price + (offer_price * INSTALLMENT_INTEREST_BP * (installments - 1)
                                       + 5000) // 10000
    distributable = offer_price - fee
    affiliate = coproducer = 0
    if platform != "pix":
        if rng.random() < 0.30:
            affiliate = distributable * rng.choice((20, 30, 40, 50)) // 100
        if rng.random() < 0.20:
            coproducer = distributable * rng.choice((10, 20, 30)) // 100
    return customer_paid, fee, affiliate, coproducer


def build_lifecycle(rng: random.Random, txn: Txn, allow_chargeback: bool) -> None:
    """Fill txn.steps (and refund fields) along the status diagram (docs/status-model.md)."""
    t = txn.ordered_at
    steps = txn.steps
    method = txn.method
    platform = txn.platform

    def add(status: str, delta_seconds: float) -> datetime:
        nonlocal t
        # Minute-resolution feeds (Kiwify) need distinct minutes to keep event order.
        t = t + timedelta(seconds=max(61.0, delta_seconds))
        steps.append(Step(status, t))
        return t

    steps.append(Step("pending", t))
    if platform == "pix":
        steps[0] = Step("awaiting_payment", t)
        if rng.random() < 0.10:
            add("cancelled", rng.uniform(1800, 3600))
            return
        add("approved", rng.uniform(60, 1800))
    elif method in ("boleto", "boleto_installment", "pix"):
        add("awaiting_payment", rng.uniform(5, 60))
        if rng.random() < 0.25:
            add("expired", 3 * 86400 if method != "pix" else 86400)
            return
        add("approved", rng.uniform(600, 2.5 * 86400) if method != "pix" else rng.uniform(60, 1800))
    else:
        add("processing", rng.uniform(2, 20))
        roll = rng.random()
        if roll < 0.07:
            add("declined", rng.uniform(2, 30))
            return
        if roll < 0.12:
            add("under_review", rng.uniform(5, 60))
            if rng.random() < 0.3:
                add("declined", rng.uniform(3600, 86400))
                return
            add("approved", rng.uniform(3600, 86400))
        else:
            add("approved", rng.uniform(2, 120))

    approved_at = t
    warranty_end = approved_at + timedelta(days=txn.warranty_days)
    roll = rng.random()
    if platform == "pix":
        if roll < 0.06:
            txn.refund_kind = "refund"
            txn.refund_amount = txn.extra["pix_amount"]
            add("refunded", rng.uniform(1, 20) * 86400)
        elif roll < 0.08:
            txn.refund_kind = "partial_refund"
            txn.refund_amount = max(100, txn.extra["pix_amount"] * rng.choice((30, 50, 70)) // 100)
            add("partially_refunded", rng.uniform(1, 20) * 86400)
        if txn.refund_kind:
            txn.refund_requested_at = t - timedelta(hours=rng.uniform(1, 48))
            txn.refund_settled_at = t
        return
    if roll < 0.06:
        requested = approved_at + timedelta(days=rng.uniform(1.1, txn.warranty_days - 0.2))
        txn.refund_kind = "refund"
        txn.refund_amount = txn.customer_paid
        txn.refund_requested_at = requested
        t = requested
        if platform == "eduzz" and rng.random() < 0.5:
            add("refund_requested", 61)
        add("refunded", rng.uniform(3600, 20 * 3600))
        txn.refund_settled_at = t
        return
    if allow_chargeback and method == "credit_card" and roll < 0.08:
        opened = approved_at + timedelta(days=rng.uniform(10, 40))
        t = opened
        steps.append(Step("disputed", t))
        txn.refund_requested_at = opened
        if rng.random() < 0.6:
            txn.refund_kind = "chargeback"
            txn.refund_amount = txn.customer_paid
            add("chargeback", rng.uniform(5, 20) * 86400)
            txn.refund_settled_at = t
            return
        add("dispute_won", rng.uniform(5, 20) * 86400)
        txn.extra["dispute_won"] = True
    complete_at = max(warranty_end, t) + timedelta(hours=rng.uniform(1, 30))
    t = complete_at
    steps.append(Step("complete", t))
