"""What one run found and what the books say for its period, read once for the report, the
digest (e-mail and chat) and anyone else who tells finance about a run.

* the checks' outcomes and every break, with the day each break was first seen;
* the previous run and its outcome per check (what changed);
* the period: the business day of the run (or ``TALLYHOUSE_REPORT_DAY``) and its month to
  date, with gross → fees → commissions → refunds → net per platform and currency, and the
  payouts received in it;
* how each side of a break reads: an amount in its own currency (a fee or commission line
  in another currency than the sale is never shown with the sale's symbol).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tallyhouse import db
from tallyhouse.config import business_time_zone
from tallyhouse.money import format_amount, format_date, is_currency
from tallyhouse.reconciliation.runner import DDL, stakes

LOCAL_TZ = ZoneInfo(business_time_zone())
REPORT_DAY_ENV = "TALLYHOUSE_REPORT_DAY"  # YYYY-MM-DD, or "previous" for the day before the run
BREAK_COLUMNS = ("run_id", "run_at", "check_name", "invariant", "severity", "break_kind",
                 "entity_type", "entity_id", "platform", "unit", "currency_code", "expected",
                 "actual", "difference", "amount_at_stake", "detail", "feed", "first_seen_at")
# breaks whose "actual" sums the lines of a transaction: a line in another currency than
# the sale is added in with them (rpt_money_breaks), so that side is not in the sale's currency
LINE_SUMS = {"fee_lines_differ", "commission_lines_differ", "producer_line_differs"}


@dataclass(frozen=True)
class Period:
    day: date
    month_start: date

    @property
    def day_label(self) -> str:
        return format_date(self.day)

    @property
    def month_label(self) -> str:
        return f"{format_date(self.month_start)}–{format_date(self.day)}"


@dataclass
class ControlTotal:
    platform: str
    currency: str
    sales: int = 0
    gross: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)
    refunds: int = 0
    refunded: Decimal = Decimal(0)
    payouts: int = 0
    paid_out: Decimal = Decimal(0)

    @property
    def net(self) -> Decimal:
        """Gross − fees − commissions − refunds (refunds settled in the period)."""
        return self.gross - self.fees - self.commissions - self.refunded


@dataclass
class RunFacts:
    run_id: str
    run_at: datetime
    summary: list[dict]
    breaks: list[dict]
    previous: tuple[str, datetime] | None
    before: dict[str, dict]
    stakes_total: dict
    stakes_per_check: dict
    per_platform: list[tuple]
    period: Period
    day_totals: list[ControlTotal]
    month_totals: list[ControlTotal]
    data_up_to: date | None
    deliveries: list[dict] = field(default_factory=list)

    @property
    def local(self) -> datetime:
        return self.run_at.astimezone(LOCAL_TZ)

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.summary if not s["passed"]]

    @property
    def structural(self) -> list[dict]:
        return [s for s in self.failed if s["severity"] == "ERROR"]

    @property
    def break_count(self) -> int:
        return len(self.breaks)

    def money_stakes(self) -> dict:
        """At stake per currency (points and records left out)."""
        return {u: v for u, v in self.stakes_total.items() if is_currency(u)}


def report_period(run_at: datetime) -> Period:
    """The business day of the run (``TALLYHOUSE_REPORT_DAY``: a date, or ``previous`` for
    the day before, e.g. for a run at 06:00) and its month to date."""
    setting = (os.environ.get(REPORT_DAY_ENV) or "").strip()
    day = run_at.astimezone(LOCAL_TZ).date()
    if setting == "previous":
        day -= timedelta(days=1)
    elif setting:
        day = date.fromisoformat(setting)
    return Period(day=day, month_start=day.replace(day=1))


def read(url: str, run_id: str, period: Period | None = None) -> RunFacts:
    with db.cursor(url) as cur:
        cur.execute(DDL)
        cur.execute("select check_name, invariant, severity, checked_table, description, "
                    "passed, break_count, error, duration_seconds, run_at, carried_over_from "
                    "from marts.rpt_reconciliation_summary where run_id = %s "
                    "order by invariant, check_name", (run_id,))
        summary = [dict(zip([d.name for d in cur.description], r, strict=True))
                   for r in cur.fetchall()]
        if not summary:
            raise LookupError(f"no reconciliation checks stored for run {run_id}")
        run_at = summary[0]["run_at"]
        cur.execute(f"select {', '.join(BREAK_COLUMNS)} from marts.rpt_reconciliation_breaks "
                    "where run_id = %s order by invariant, check_name, "
                    "amount_at_stake desc nulls last, entity_id", (run_id,))
        breaks = [dict(zip(BREAK_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        # the run before this one, by time (a run stored again keeps its place)
        cur.execute("select run_id, max(run_at) from marts.rpt_reconciliation_summary "
                    "where run_at < %s and run_id <> %s group by run_id "
                    "order by 2 desc limit 1", (run_at, run_id))
        previous = cur.fetchone()
        before: dict[str, dict] = {}
        if previous:
            # every row of this query is read before another query reuses the cursor
            cur.execute("select check_name, passed, break_count "
                        "from marts.rpt_reconciliation_summary where run_id = %s",
                        (previous[0],))
            rows = cur.fetchall()
            before_stakes = stakes(cur, previous[0], by=("check_name",))
            before = {name: {"passed": passed, "breaks": count,
                             "stakes": before_stakes.get((name,), {})}
                      for name, passed, count in rows}
        total = stakes(cur, run_id)
        per_check = stakes(cur, run_id, by=("check_name",))
        cur.execute("select platform, unit, sum(breaks), sum(amount_at_stake) "
                    "from marts.rpt_reconciliation_stakes where run_id = %s "
                    "group by 1, 2 order by 1, 2", (run_id,))
        per_platform = cur.fetchall()
        period = period or report_period(run_at)
        if _marts_on_spark():
            day_totals = spark_control_totals(period.day, period.day)
            month_totals = spark_control_totals(period.month_start, period.day)
            data_up_to = _spark_scalar("select max(order_date) from marts.agg_daily_sales "
                                       f"where order_date <= date '{period.day.isoformat()}'")
        else:
            day_totals = control_totals(cur, period.day, period.day)
            month_totals = control_totals(cur, period.month_start, period.day)
            data_up_to = _scalar(cur, "select max(order_date) from marts.agg_daily_sales "
                                      "where order_date <= %s", (period.day,))
        deliveries = _deliveries(cur, previous, run_at)
    facts = RunFacts(run_id=run_id, run_at=run_at, summary=summary, breaks=breaks,
                     previous=tuple(previous) if previous else None, before=before,
                     stakes_total=total, stakes_per_check=per_check, per_platform=per_platform,
                     period=period, day_totals=day_totals, month_totals=month_totals,
                     data_up_to=data_up_to, deliveries=deliveries)
    describe_sides(facts.breaks)
    return facts


def _scalar(cur, sql: str, params: tuple = ()):
    try:
        cur.execute("savepoint facts_scalar")
        cur.execute(sql, params)
        value = cur.fetchone()[0]
        cur.execute("release savepoint facts_scalar")
        return value
    except Exception:  # noqa: BLE001 - a mart not built yet: nothing to say
        cur.execute("rollback to savepoint facts_scalar")
        return None


CONTROL_TOTALS = """
with
sales as (
    select platform, currency_code, sum(approved_transactions) as sales,
           sum(gross_amount) as gross, sum(fee_amount) as fees,
           sum(commission_amount) as commissions
    from marts.agg_daily_sales
    where order_date between %(first)s and %(last)s and approved_transactions > 0
    group by 1, 2
),
refunds as (
    select platform, currency_code, count(*) as refunds, sum(amount) as refunded
    from marts.fct_refunds
    where settled_date between %(first)s and %(last)s
    group by 1, 2
),
payouts as (
    select platform, currency_code, count(distinct payout_id) as payouts,
           sum(amount) as paid_out
    from marts.fct_payouts
    where payout_date between %(first)s and %(last)s
    group by 1, 2
)
select platform, currency_code, coalesce(sales.sales, 0), coalesce(sales.gross, 0),
       coalesce(sales.fees, 0), coalesce(sales.commissions, 0),
       coalesce(refunds.refunds, 0), coalesce(refunds.refunded, 0),
       coalesce(payouts.payouts, 0), coalesce(payouts.paid_out, 0)
from sales
full join refunds using (platform, currency_code)
full join payouts using (platform, currency_code)
order by currency_code <> 'BRL', currency_code, platform
"""


def _marts_on_spark() -> bool:
    """The marts are Spark's (TALLYHOUSE_ENGINE=spark); the run's history is PostgreSQL's."""
    from tallyhouse.engine import engine

    return engine() == "spark"


def _spark_scalar(sql: str):
    from tallyhouse.spark.checks import fetch_rows

    try:
        rows = fetch_rows(sql)
    except Exception:  # noqa: BLE001 - a mart not built yet: nothing to say
        return None
    return rows[0][0] if rows else None


def spark_control_totals(first: date, last: date) -> list[ControlTotal]:
    """control_totals, read from Spark's marts."""
    from tallyhouse.spark.checks import fetch_rows, transpiled

    sql = transpiled(CONTROL_TOTALS.replace("%(first)s", f"date '{first.isoformat()}'")
                     .replace("%(last)s", f"date '{last.isoformat()}'"))
    try:
        rows = fetch_rows(sql)
    except Exception:  # noqa: BLE001 - the marts are not there yet (a failed first build)
        return []
    return _totals(rows)


def _totals(rows) -> list[ControlTotal]:
    return [ControlTotal(platform, currency, int(sales), Decimal(gross), Decimal(fees),
                         Decimal(commissions), int(refunds), Decimal(refunded), int(payouts),
                         Decimal(paid_out))
            for platform, currency, sales, gross, fees, commissions, refunds, refunded,
            payouts, paid_out in rows]


def control_totals(cur, first: date, last: date) -> list[ControlTotal]:
    """Per platform and currency, for the days first..last (business days): approved sales
    by order date (gross, fees, commissions), refunds and chargebacks settled in the days,
    and the payout lines dated in them. Empty when the marts are not built."""
    try:
        cur.execute("savepoint control_totals")
        cur.execute(CONTROL_TOTALS, {"first": first, "last": last})
        rows = cur.fetchall()
        cur.execute("release savepoint control_totals")
    except Exception:  # noqa: BLE001 - the marts are not there yet (a failed first build)
        cur.execute("rollback to savepoint control_totals")
        return []
    return _totals(rows)


def _deliveries(cur, previous: tuple | None, until: datetime) -> list[dict]:
    """The previous run's digest, and what else was sent since (a failed run's alert, a
    test): what was delivered, what was not and why. Empty before the first digest."""
    try:
        cur.execute("savepoint deliveries")
        cur.execute("select run_id, kind, channel, attempted_at, delivered, attempts, detail "
                    "from marts.rpt_notification_deliveries "
                    "where run_id = %s or (attempted_at > coalesce(%s, '-infinity'::timestamptz)"
                    " and attempted_at < %s) order by attempted_at, channel",
                    (previous[0] if previous else None, previous[1] if previous else None,
                     until))
        rows = [dict(zip([d.name for d in cur.description], r, strict=True))
                for r in cur.fetchall()]
        cur.execute("release savepoint deliveries")
        return rows
    except Exception:  # noqa: BLE001 - no digest was ever sent: no table yet
        cur.execute("rollback to savepoint deliveries")
        return []


def describe_sides(breaks: list[dict]) -> None:
    """Give every break ``shown``: expected, actual, difference and stake as text, each in
    its own currency. A money-formula break whose lines include one in another currency
    (the transaction's ``currency_mismatch`` break names it) does not read that line with
    the sale's symbol: a line sum made only of lines in another currency is shown in that
    currency, and a sum across currencies says so, with no difference claimed."""
    foreign: dict[tuple, dict[str, Decimal]] = {}
    for row in breaks:
        if row["break_kind"] == "currency_mismatch" and row["actual"] is not None:
            lines = foreign.setdefault((row["platform"], row["entity_id"]), {})
            unit = row["currency_code"] or row["unit"]
            lines[unit] = lines.get(unit, Decimal(0)) + Decimal(row["actual"])
    for row in breaks:
        unit = row["currency_code"] or row["unit"]
        shown = {name: format_amount(row[name], unit)
                 for name in ("expected", "actual", "difference", "amount_at_stake")}
        shown["note"] = ""
        other = foreign.get((row["platform"], row["entity_id"]))
        if row["break_kind"] in LINE_SUMS and other and row["actual"] is not None:
            actual = Decimal(row["actual"])
            if len(other) == 1 and actual == next(iter(other.values())):
                [(currency, amount)] = other.items()
                shown["actual"] = format_amount(amount, currency)
                shown["note"] = (f"the lines are in {currency}, the sale in {unit}: not "
                                 "comparable (see the currency mismatch)")
            else:
                parts = [format_amount(actual - sum(other.values()), unit)] + [
                    format_amount(v, c) for c, v in sorted(other.items())]
                shown["actual"] = " + ".join(parts)
                shown["note"] = ("lines in more than one currency: see the currency "
                                 "mismatch")
            shown["difference"] = "—"
            shown["amount_at_stake"] = "—"
        row["shown"] = shown


def age_days(row: dict, now: datetime) -> int:
    """Whole days a break has been open (0 on the day it was first seen)."""
    first = row.get("first_seen_at") or row["run_at"]
    return max(0, (now.astimezone(LOCAL_TZ).date() - first.astimezone(LOCAL_TZ).date()).days)
