"""Compare the sales marts with a generator's ``_truth.json`` (a test helper)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

MART_FIGURES = """
select
    platform,
    currency_code,
    count(*) as transactions,
    count(*) filter (where has_been_approved) as "approved.count",
    coalesce(sum(offer_price) filter (where has_been_approved), 0) as "approved.offer_price",
    coalesce(sum(base_price) filter (where has_been_approved), 0) as "approved.base_price",
    coalesce(sum(customer_paid_amount) filter (where has_been_approved), 0)
        as "approved.customer_paid_amount",
    coalesce(sum(platform_fee_amount) filter (where has_been_approved), 0)
        as "approved.platform_fee_amount",
    coalesce(sum(distributable_amount) filter (where has_been_approved), 0)
        as "approved.distributable_amount",
    coalesce(sum(partner_commission_amount) filter (where has_been_approved), 0)
        as "approved.partner_commission_amount",
    coalesce(sum(producer_net_amount) filter (where has_been_approved), 0)
        as "approved.producer_net_amount",
    count(*) filter (where refund_kind = 'refund') as "refund.count",
    coalesce(sum(refunded_amount) filter (where refund_kind = 'refund'), 0) as "refund.amount",
    count(*) filter (where refund_kind = 'partial_refund') as "partial_refund.count",
    coalesce(sum(refunded_amount) filter (where refund_kind = 'partial_refund'), 0)
        as "partial_refund.amount",
    count(*) filter (where refund_kind = 'chargeback') as "chargeback.count",
    coalesce(sum(refunded_amount) filter (where refund_kind = 'chargeback'), 0)
        as "chargeback.amount",
    count(*) filter (where has_been_disputed) as "disputes_opened",
    count(*) filter (where has_been_disputed and status in ('approved', 'complete'))
        as "disputes_won",
    coalesce(sum(affiliate_commission_amount) filter (where has_been_approved), 0)
        as "approved.affiliate_commission_amount",
    coalesce(sum(coproducer_commission_amount) filter (where has_been_approved), 0)
        as "approved.coproducer_commission_amount",
    count(*) filter (where has_been_approved and installments_number > 1)
        as "approved.installment_count",
    count(*) filter (where is_subscription) as "subscription_transactions"
from marts.fct_transactions
group by platform, currency_code
"""

METHOD_FIGURES = """
select platform, currency_code, payment_method,
       count(*) filter (where has_been_approved),
       coalesce(sum(offer_price) filter (where has_been_approved), 0),
       count(*) filter (where status = 'approved'),
       coalesce(sum(offer_price) filter (where status = 'approved'), 0)
from marts.fct_transactions group by 1, 2, 3
"""

STATUS_FIGURES = """
select platform, currency_code, status, count(*), sum(offer_price)
from marts.fct_transactions group by 1, 2, 3
"""


def expected_figures(truth: dict) -> dict[tuple[str, str], dict[str, Decimal | int]]:
    figures = {}
    for platform, by_currency in truth["sales"].items():
        for currency, values in by_currency.items():
            row = {}
            for key, value in values.items():
                row[key] = Decimal(value) if isinstance(value, str) else value
            figures[(platform, currency)] = row
    return figures


def mart_figures(cur) -> dict[tuple[str, str], dict[str, Decimal | int]]:
    cur.execute(MART_FIGURES)
    names = [d[0] for d in cur.description]
    figures = {}
    for row in cur.fetchall():
        values = dict(zip(names, row, strict=True))
        key = (values.pop("platform"), values.pop("currency_code"))
        figures[key] = values
    cur.execute(METHOD_FIGURES)
    for platform, currency, method, approved, offer, final, final_offer in cur.fetchall():
        row = figures[(platform, currency)]
        for prefix, count, amount in (("approved", approved, offer),
                                      ("final_approved", final, final_offer)):
            if count:
                row[f"{prefix}.payment_method.{method}.count"] = count
                row[f"{prefix}.payment_method.{method}.offer_price"] = amount
    cur.execute(STATUS_FIGURES)
    for platform, currency, status, count, offer in cur.fetchall():
        figures[(platform, currency)][f"final_status.{status}.count"] = count
        figures[(platform, currency)][f"final_status.{status}.offer_price"] = offer
    return figures


def differences(cur, landing: Path) -> list[str]:
    truth = json.loads((landing / "_truth.json").read_text())
    expected = expected_figures(truth)
    actual = mart_figures(cur)
    problems = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key, {}), actual.get(key, {})
        for name in sorted(set(want) | set(got)):
            if name.endswith("within_warranty_count"):
                continue  # the truth knows the request time, the platforms only settlement
            w, g = want.get(name, 0), got.get(name, 0)
            if Decimal(w) != Decimal(g):
                problems.append(f"{key[0]} {key[1]} {name}: truth {w}, marts {g}")
    return problems
