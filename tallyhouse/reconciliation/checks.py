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

import json
from dataclasses import dataclass
from pathlib import Path

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
    # the answer changes with the clock, not only with the data: never carried over
    live: bool = False

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"


def _rule(name: str, feed: bool = False) -> str:
    """The breaks of one rule of a family's ``rpt_*_breaks`` model (written once, in dbt)."""
    return f"""
select
    break_kind, entity_type, entity_id, platform, unit, expected, actual, amount_at_stake,
    detail{', feed' if feed else ''}
from {{batch}}
where check_name = '{name}'
"""


QUARANTINED_RECORDS = """
with quarantine as (select * from {batch})
select
    'quarantined_record' as break_kind,
    'record' as entity_type,
    quarantine.file_name || ':' || coalesce(quarantine.line_no::text, 'whole file')
        as entity_id,
    quarantine.source as platform,
    'records' as unit,
    0::numeric as expected,
    1::numeric as actual,
    null::numeric as amount_at_stake,
    quarantine.reason as detail,
    coalesce(quarantine.feed, quarantine.source) as feed
from quarantine
"""

DATA_ISSUES = """
select
    case when record_left_out then 'record_left_out' else 'value_unreadable' end
        as break_kind,
    'record' as entity_type,
    source_file || ':' || source_line as entity_id,
    source as platform,
    'records' as unit,
    null::numeric as expected,
    null::numeric as actual,
    null::numeric as amount_at_stake,
    field || ': ' || reason
    || coalesce(' (value ' || quote_literal(left(raw_value, 60)) || ')', '')
    || coalesce(', ' || entity_id, '')
    || case when record_left_out then ' - the record is not in the marts' else '' end
        as detail,
    feed
from {batch}
"""


RAW_INTACT = """
select
    kind as break_kind,
    'record' as entity_type,
    file_name || coalesce(':' || line_no::text, '') as entity_id,
    source as platform,
    'records' as unit,
    null::numeric as expected,
    null::numeric as actual,
    null::numeric as amount_at_stake,
    detail,
    feed
from {batch}
"""

PERIOD_HOURS = {"minute": 1 / 60, "hour": 1, "day": 24}


def freshness_hours(manifest_path: Path | None = None) -> dict[str, float]:
    """Hours after which a feed with no new data is stale: the ``warn_after`` of each dbt
    source table (``freshness:`` in models/staging/*/_*__sources.yml), read from the
    parsed manifest; a feed without a freshness setting is never stale."""
    from tallyhouse.config import project_root

    path = manifest_path or project_root() / "target" / "manifest.json"
    if not path.exists():
        return {}
    hours = {}
    for node in json.loads(path.read_text()).get("sources", {}).values():
        warn = (node.get("freshness") or {}).get("warn_after") or {}
        if warn.get("count") and warn.get("period") in PERIOD_HOURS:
            hours[node["name"]] = float(warn["count"]) * PERIOD_HOURS[warn["period"]]
    return hours


def stale_sources_query(hours: dict[str, float]) -> str:
    """A feed that delivered before and has not delivered for longer than its freshness
    window (as of now, by the time its last file was loaded): "no hotmart_webhooks data
    for 3 days". A feed that never delivered is not stale (a seller may not use it)."""
    if not hours:
        return STALE_SOURCES_NONE
    windows = ", ".join(f"('{feed}', {h})" for feed, h in sorted(hours.items()))
    return f"""
with
windows (feed, hours) as (values {windows}),
latest as (
    select source, feed, max(loaded_at) as last_loaded
    from {{batch}}
    where status = 'loaded' and records_landed > 0
    group by source, feed
)
select
    'stale_source' as break_kind,
    'feed' as entity_type,
    latest.feed as entity_id,
    latest.source as platform,
    'hours' as unit,
    windows.hours::numeric as expected,
    round((extract(epoch from now() - latest.last_loaded) / 3600)::numeric, 1) as actual,
    null::numeric as amount_at_stake,
    format('no new %s data for %s days (last file loaded %s UTC; expected within %s hours)',
           latest.feed, floor(extract(epoch from now() - latest.last_loaded) / 86400),
           to_char(latest.last_loaded at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),
           windows.hours) as detail,
    latest.feed as feed
from latest
inner join windows on latest.feed = windows.feed
where latest.last_loaded < now() - make_interval(secs => windows.hours * 3600)
"""


STALE_SOURCES_NONE = """
select null::text as break_kind, null::text as entity_type, null::text as entity_id,
       null::text as platform, null::text as unit, null::numeric as expected,
       null::numeric as actual, null::numeric as amount_at_stake, null::text as detail,
       null::text as feed
from {batch} where false
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
    Check("files_reconcile", 1, ERROR, "marts", "rpt_file_breaks",
          "Per delivered file: records in the file = records landed + quarantined + "
          "duplicates (exact copies, and ledger records re-exported with the same values in "
          "other formatting), counted from the tables.", _rule("files_reconcile", feed=True),
          per_feed=True),
    Check("quarantined_records", 1, WARN, "raw", "_quarantine",
          "Records that could not be read are kept in raw._quarantine with file, line and "
          "reason; each one is listed for review.", QUARANTINED_RECORDS, per_feed=True),
    Check("stale_sources", 1, WARN, "raw", "_manifest",
          "Every feed that delivers keeps delivering: no new file for longer than its "
          "freshness window (dbt sources' warn_after) is a finding - the figures may miss "
          "the latest days.", stale_sources_query(freshness_hours()), per_feed=True,
          live=True),
    Check("raw_intact", 1, ERROR, "raw", "_integrity_breaks",
          "Every landed record is still in raw as it was delivered: no row deleted and no "
          "content edited after landing (counted and hashed again by the loaders whenever a "
          "raw table is changed, and on the weekly full pass).", RAW_INTACT, per_feed=True,
          live=True),
    Check("conflicting_redeliveries", 1, WARN, "marts", "rpt_file_breaks",
          "An event delivered twice under the same id carries the same content; when it "
          "does not, both versions are listed and the marts use the one with the lowest "
          "record hash, whatever the order of delivery; a delivery under the id naming "
          "another transaction is counted in that transaction and listed too.",
          _rule("conflicting_redeliveries")),
    Check("data_issues", 1, ERROR, "marts", "rpt_data_issues",
          "Every field of every landed record was read: a value that does not cast, an "
          "object of another type, a missing key or a ledger record re-exported with other "
          "values is listed with file, line, field and reason (a raw value about a person "
          "masked).", DATA_ISSUES, per_feed=True),
    Check("raw_reaches_marts", 1, ERROR, "marts", "rpt_status_breaks",
          "Every transaction delivered in the extracts is in fct_transactions.",
          _rule("raw_reaches_marts")),
    # 2. money formulas, fees and commissions
    Check("money_formulas", 2, WARN, "marts", "rpt_money_breaks",
          "distributable = offer price − platform fee; producer net = distributable − partner "
          "commissions; fee and commission lines sum to the transaction's figures.",
          _rule("money_formulas")),
    # 3. statuses
    Check("status_mapping", 3, ERROR, "marts", "rpt_status_breaks",
          "Every raw platform status is mapped to a unified status (seeds).",
          _rule("status_mapping")),
    Check("payment_method_mapping", 3, ERROR, "marts", "rpt_status_breaks",
          "Every raw payment method is mapped to a unified method (seeds).",
          _rule("payment_method_mapping")),
    Check("status_history", 3, WARN, "marts", "rpt_status_breaks",
          "Every status change is an allowed transition and the last change equals the "
          "current status.", _rule("status_history")),
    # 4. platforms vs payouts
    Check("payouts_match_platform", 4, WARN, "marts", "rpt_payout_breaks",
          "Each payout line pays what the platform reports as the producer's net, per payout "
          "and currency; no line for an unknown transaction.",
          _from_report(("payout_amount_mismatch", "payout_currency_mismatch",
                        "payout_unknown_transaction"), "transaction",
                       "platform_transaction_id", "platform", "currency_code",
                       detail="'payout ' || payout_id")),
    Check("approved_unpaid", 4, WARN, "marts", "rpt_payout_breaks",
          "An approved sale is paid out within 14 days of the release of its money.",
          _from_report(("approved_never_paid",), "transaction", "platform_transaction_id",
                       "platform", "currency_code",
                       detail="'no payout line 14 days after release'")),
    Check("paid_out_twice", 7, WARN, "marts", "rpt_payout_breaks",
          "No sale is paid out in more than one payout line.",
          _from_report(("paid_out_twice",), "transaction", "platform_transaction_id",
                       "platform", "currency_code",
                       detail="'sale paid in payouts ' || payout_id")),
    # 5. points
    Check("points_lifecycle", 5, WARN, "marts", "rpt_points_breaks",
          "Every confirm or cancel matches one open authorization; confirmed ≤ authorized; "
          "nothing is cancelled after its confirmation.",
          _from_report(("confirm_without_authorization", "cancel_without_authorization",
                        "double_confirm", "confirm_above_hold", "cancel_after_confirm",
                        "confirm_after_cancel"),
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
          _from_report(("voucher_differs_from_refund", "voucher_above_refund"), "pix_order",
                       "entity_id", "'pix'",
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
    Check("refund_above_paid", 7, WARN, "marts", "rpt_money_breaks",
          "No transaction is refunded above what the customer paid.",
          _rule("refund_above_paid")),
    Check("platform_totals_match", 7, WARN, "marts", "rpt_platform_totals_breaks",
          "Where a platform's sales API publishes its own totals (Hotmart and MyEduzz "
          "sales/summary, latest fetch), the marts' count and value of the sales ordered in "
          "each period, per status group and currency, equal the platform's.",
          _rule("platform_totals_match")),
)
