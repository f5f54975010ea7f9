"""The reconciliation invariants, one :class:`Check` each.

Every check is a query over the table it tests (``{batch}``, Great Expectations' batch of
that table) that returns one row per break with the same columns:

``break_kind, entity_type, entity_id, platform, unit, expected, actual, amount_at_stake,
detail``

``unit`` is the currency code for money, else ``points`` / ``records`` / ``events`` /
``reports``. A check passes when its query returns no row (GX's
``UnexpectedRowsExpectation``). The six families of the brief are invariants 1–6; 7 marks
the extra checks a finance team also wants.

Structural checks (``ERROR``: lost records, unmapped vocabularies) stop the report; money
breaks (``WARN``) are findings: listed with their amount at stake, and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from tallyhouse.sources import FEEDS

ERROR = "ERROR"
WARN = "WARN"


@dataclass(frozen=True)
class Check:
    name: str
    invariant: int
    severity: str
    schema: str
    table: str
    description: str
    query: str
    # Dagster asset keys the check is attached to; by default the table it reads. A check
    # attached to several assets routes each break by its ``feed`` (see files_reconcile).
    per_feed: bool = False

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()


def _landed_per_file() -> str:
    return "\n        union all\n".join(
        f"        select '{feed.name}' as feed, _file_sha256 as file_sha256, count(*) as n "
        f"from {feed.table} group by 2"
        for feed in FEEDS
    )


FILES_RECONCILE = f"""
with
manifest as (select * from {{batch}}),
landed as (
{_landed_per_file()}
),
landed_per_file as (
    select file_sha256, sum(n) as n from landed group by file_sha256
),
quarantined as (
    select file_sha256, count(*) as n from raw._quarantine group by file_sha256
)
select
    'file_not_reconciled' as break_kind,
    'file' as entity_type,
    manifest.file_name as entity_id,
    manifest.source as platform,
    'records' as unit,
    manifest.records_in_file::numeric as expected,
    (coalesce(landed_per_file.n, 0) + coalesce(quarantined.n, 0)
        + manifest.records_duplicate)::numeric as actual,
    null::numeric as amount_at_stake,
    format('%s records in the file; %s landed, %s quarantined, %s exact duplicates',
           manifest.records_in_file, coalesce(landed_per_file.n, 0),
           coalesce(quarantined.n, 0), manifest.records_duplicate) as detail,
    coalesce(manifest.feed, manifest.source) as feed
from manifest
left join landed_per_file on manifest.file_sha256 = landed_per_file.file_sha256
left join quarantined on manifest.file_sha256 = quarantined.file_sha256
where
    manifest.status in ('loaded', 'rejected')
    and manifest.records_in_file
        <> coalesce(landed_per_file.n, 0) + coalesce(quarantined.n, 0) + manifest.records_duplicate
"""

QUARANTINED_RECORDS = """
with quarantine as (select * from {batch})
select
    'quarantined_record' as break_kind,
    'record' as entity_type,
    quarantine.file_name || ':' || quarantine.line_no as entity_id,
    quarantine.source as platform,
    'records' as unit,
    0::numeric as expected,
    1::numeric as actual,
    null::numeric as amount_at_stake,
    quarantine.reason as detail,
    coalesce(quarantine.feed, quarantine.source) as feed
from quarantine
"""

RAW_REACHES_MARTS = """
with
transactions as (select platform, platform_transaction_id from {batch}),
delivered as (
    select distinct platform, platform_transaction_id
    from intermediate.int_transaction_events_unioned
)
select
    'transaction_lost' as break_kind,
    'transaction' as entity_type,
    delivered.platform_transaction_id as entity_id,
    delivered.platform,
    'transactions' as unit,
    1::numeric as expected,
    0::numeric as actual,
    null::numeric as amount_at_stake,
    'delivered in the extracts, missing from fct_transactions' as detail
from delivered
left join transactions
    on
        delivered.platform = transactions.platform
        and delivered.platform_transaction_id = transactions.platform_transaction_id
where transactions.platform_transaction_id is null
"""

MONEY_FORMULAS = """
with
checked as (select * from {batch}),
fees as (
    select transaction_key, sum(amount) as amount
    from marts.fct_transaction_fees group by transaction_key
),
commissions as (
    select
        transaction_key,
        coalesce(sum(amount) filter (where role in ('coproducer', 'affiliate')), 0) as partners,
        coalesce(sum(amount) filter (where role = 'producer'), 0) as producer
    from marts.fct_commissions group by transaction_key
),
transactions as materialized (
    select
        t.platform, t.platform_transaction_id, t.currency_code, t.offer_price,
        t.platform_fee_amount, t.distributable_amount, t.partner_commission_amount,
        t.producer_net_amount, coalesce(fees.amount, 0) as fee_lines,
        coalesce(c.partners, 0) as partner_lines, coalesce(c.producer, 0) as producer_line
    from checked as t
    left join fees on t.transaction_key = fees.transaction_key
    left join commissions as c on t.transaction_key = c.transaction_key
),
-- one pass over the transactions: each rule is a row of the lateral list
breaks as (
    select
        rule.break_kind, t.platform, t.platform_transaction_id, t.currency_code,
        rule.expected, rule.actual, rule.detail
    from transactions as t
    cross join lateral (values
        ('distributable_formula', t.offer_price - t.platform_fee_amount,
         t.distributable_amount, 'distributable_amount = offer_price - platform_fee_amount'),
        ('producer_net_formula', t.distributable_amount - t.partner_commission_amount,
         t.producer_net_amount,
         'producer_net_amount = distributable_amount - partner_commission_amount'),
        ('fee_lines_differ', t.platform_fee_amount, t.fee_lines,
         'fct_transaction_fees lines sum to platform_fee_amount'),
        ('commission_lines_differ', t.partner_commission_amount, t.partner_lines,
         'co-producer and affiliate lines of fct_commissions sum to '
         || 'partner_commission_amount'),
        ('producer_line_differs', t.producer_net_amount, t.producer_line,
         'the producer line of fct_commissions equals producer_net_amount')
    ) as rule (break_kind, expected, actual, detail)
    where rule.expected <> rule.actual
)
select
    break_kind, 'transaction' as entity_type, platform_transaction_id as entity_id, platform,
    currency_code as unit, expected, actual, abs(actual - expected) as amount_at_stake, detail
from breaks
"""

def _unmapped(kind: str, flag: str, raw_column: str, label: str, seed: str) -> str:
    """Events whose raw value no seed maps; the transaction's price is at stake."""
    return f"""
select
    '{kind}' as break_kind,
    'transaction' as entity_type,
    platform_transaction_id as entity_id,
    platform,
    currency_code as unit,
    null::numeric as expected,
    null::numeric as actual,
    offer_price as amount_at_stake,
    format('{label} %s is not in seeds/{seed} (%s line %s)',
           quote_literal({raw_column}), source_file, source_line) as detail
from {{batch}}
where {flag}
"""


STATUS_MAPPING = _unmapped("unmapped_status", "is_unmapped_status", "raw_status",
                           "raw status", "platform_status_mapping.csv")
PAYMENT_METHOD_MAPPING = _unmapped("unmapped_payment_method", "is_unmapped_payment_method",
                                   "raw_payment_method", "payment method",
                                   "payment_method_mapping.csv")

STATUS_HISTORY = """
with
history as (select * from {batch}),
transactions as (select * from marts.fct_transactions)
select
    'invalid_transition' as break_kind,
    'transaction' as entity_type,
    history.platform_transaction_id as entity_id,
    history.platform,
    transactions.currency_code as unit,
    null::numeric as expected,
    null::numeric as actual,
    transactions.offer_price as amount_at_stake,
    format('%s -> %s at %s is not an allowed transition',
           coalesce(history.previous_status, 'start'), history.status, history.changed_at)
        as detail
from history
inner join transactions on history.transaction_key = transactions.transaction_key
where
    not history.is_valid_transition
    and history.status <> 'unknown'
    and coalesce(history.previous_status, 'start') <> 'unknown'
union all
select
    'last_change_is_not_current',
    'transaction',
    history.platform_transaction_id,
    history.platform,
    transactions.currency_code,
    null::numeric,
    null::numeric,
    transactions.offer_price,
    format('last change %s, current status %s', history.status, transactions.status)
from history
inner join transactions on history.transaction_key = transactions.transaction_key
where history.is_current and history.status <> transactions.status
"""

REFUND_ABOVE_PAID = """
select
    'refund_above_paid' as break_kind,
    'transaction' as entity_type,
    platform_transaction_id as entity_id,
    platform,
    currency_code as unit,
    customer_paid_amount as expected,
    refunded_amount as actual,
    refunded_amount - customer_paid_amount as amount_at_stake,
    'refunded more than the customer paid' as detail
from {batch}
where refunded_amount > customer_paid_amount
"""


def _from_report(kinds: tuple[str, ...], entity_type: str, entity: str, platform: str,
                 unit: str, detail: str = "''") -> str:
    listed = ", ".join(f"'{k}'" for k in kinds)
    return f"""
select
    check_name as break_kind,
    '{entity_type}' as entity_type,
    {entity} as entity_id,
    {platform} as platform,
    {unit} as unit,
    expected,
    actual,
    abs(difference) as amount_at_stake,
    {detail} as detail
from {{batch}}
where check_name in ({listed})
"""


PAID_OUT_TWICE = """
select
    'paid_out_twice' as break_kind,
    'transaction' as entity_type,
    platform_transaction_id as entity_id,
    platform,
    currency_code as unit,
    min(amount) as expected,
    sum(amount) as actual,
    sum(amount) - min(amount) as amount_at_stake,
    'sale paid in payouts ' || string_agg(payout_id, ', ' order by payout_id) as detail
from {batch}
where line_type = 'sale' and transaction_key is not null
group by platform, platform_transaction_id, currency_code
having count(*) > 1
"""

PIX_REFUND_ONCE = """
with
breaks as (select * from {batch} where check_name = 'pix_refunded_twice'),
refunds as (
    select payment_id, max(pix_amount) as amount
    from staging.stg_pix__payment_events
    where raw_status = '11'
    group by payment_id
)
select
    breaks.check_name as break_kind,
    'pix_order' as entity_type,
    breaks.entity_id,
    'pix' as platform,
    breaks.currency_code as unit,
    refunds.amount as expected,
    refunds.amount * breaks.actual as actual,
    refunds.amount * (breaks.actual - 1) as amount_at_stake,
    format('payment %s reported refunded (status 11) %s times', breaks.payment_id,
           breaks.actual) as detail
from breaks
left join refunds on breaks.payment_id = refunds.payment_id
"""

CHECKS: tuple[Check, ...] = (
    # 1. nothing lost
    Check("files_reconcile", 1, ERROR, "raw", "_manifest",
          "Per delivered file: records in the file = records landed + quarantined + exact "
          "duplicates skipped, counted from the tables.", FILES_RECONCILE, per_feed=True),
    Check("quarantined_records", 1, WARN, "raw", "_quarantine",
          "Records that could not be read are kept in raw._quarantine with file, line and "
          "reason; each one is listed for review.", QUARANTINED_RECORDS, per_feed=True),
    Check("raw_reaches_marts", 1, ERROR, "marts", "fct_transactions",
          "Every transaction delivered in the extracts is in fct_transactions.",
          RAW_REACHES_MARTS),
    # 2. money formulas, fees and commissions
    Check("money_formulas", 2, WARN, "marts", "fct_transactions",
          "distributable = offer price − platform fee; producer net = distributable − partner "
          "commissions; fee and commission lines sum to the transaction's figures.",
          MONEY_FORMULAS),
    # 3. statuses
    Check("status_mapping", 3, ERROR, "intermediate", "int_transaction_events_mapped",
          "Every raw platform status is mapped to a unified status (seeds).", STATUS_MAPPING),
    Check("payment_method_mapping", 3, ERROR, "intermediate", "int_transaction_events_mapped",
          "Every raw payment method is mapped to a unified method (seeds).",
          PAYMENT_METHOD_MAPPING),
    Check("status_history", 3, WARN, "marts", "fct_transaction_status_history",
          "Every status change is an allowed transition and the last change equals the "
          "current status.", STATUS_HISTORY),
    # 4. platforms vs payouts
    Check("payouts_match_platform", 4, WARN, "marts", "rpt_payout_breaks",
          "Each payout line pays what the platform reports as the producer's net, per payout "
          "and currency; no line for an unknown transaction.",
          _from_report(("payout_amount_mismatch", "payout_unknown_transaction"), "transaction",
                       "platform_transaction_id", "platform", "currency_code",
                       detail="'payout ' || payout_id")),
    Check("approved_unpaid", 4, WARN, "marts", "rpt_payout_breaks",
          "An approved sale is paid out within 14 days of the release of its money.",
          _from_report(("approved_never_paid",), "transaction", "platform_transaction_id",
                       "platform", "currency_code",
                       detail="'no payout line 14 days after release'")),
    Check("paid_out_twice", 7, WARN, "marts", "fct_payouts",
          "No sale is paid out in more than one payout line.", PAID_OUT_TWICE),
    # 5. points
    Check("points_lifecycle", 5, WARN, "marts", "rpt_points_breaks",
          "Every confirm or cancel matches one open authorization; confirmed ≤ authorized; "
          "nothing is cancelled after its confirmation.",
          _from_report(("confirm_without_authorization", "cancel_without_authorization",
                        "double_confirm", "confirm_above_hold", "cancel_after_confirm"),
                       "authorization", "entity_id", "'loyalty'", "'points'",
                       detail="'account ' || account_id")),
    Check("points_balance", 5, WARN, "marts", "rpt_points_breaks",
          "No points account balance ever goes below zero.",
          _from_report(("negative_points_balance",), "account", "entity_id", "'loyalty'",
                       "'points'", detail="'lowest balance'")),
    Check("redemption_points", 5, WARN, "marts", "rpt_points_breaks",
          "A completed redemption order's points = its items' points = its confirmed debit.",
          _from_report(("order_points_mismatch",), "redemption_order", "entity_id",
                       "'loyalty'", "'points'", detail="'account ' || account_id")),
    # 6. gift cards and PIX
    Check("voucher_refunds", 6, WARN, "marts", "rpt_giftcard_pix_breaks",
          "A gift-card voucher credits exactly the refunded PIX payment.",
          _from_report(("voucher_differs_from_refund",), "pix_order", "entity_id", "'pix'",
                       "currency_code", detail="'payment ' || payment_id")),
    Check("pix_refund_once", 6, WARN, "marts", "rpt_giftcard_pix_breaks",
          "A refunded PIX payment reports status 11 exactly once.",
          PIX_REFUND_ONCE),
    Check("giftcard_balance", 6, WARN, "marts", "rpt_giftcard_pix_breaks",
          "No gift card's balance ever goes below zero.",
          _from_report(("giftcard_negative_balance",), "gift_card", "entity_id", "'giftcards'",
                       "currency_code", detail="'lowest balance'")),
    Check("pix_split_base", 6, WARN, "marts", "rpt_giftcard_pix_breaks",
          "The PIX split base is the order total minus its gift-card payments.",
          _from_report(("split_base_includes_giftcard",), "pix_order", "entity_id", "'pix'",
                       "currency_code", detail="'payment ' || payment_id")),
    # 7. what finance also wants
    Check("refund_above_paid", 7, WARN, "marts", "fct_transactions",
          "No transaction is refunded above what the customer paid.", REFUND_ABOVE_PAID),
)

BY_NAME = {check.name: check for check in CHECKS}
