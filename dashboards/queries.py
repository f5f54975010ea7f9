"""Every SQL the dashboards run, in one place. Reads marts only.

One Streamlit SQL connection (``st.connection``), configured like everything else (the
embedded PostgreSQL by default, ``TALLYHOUSE_DATABASE_URL`` otherwise). Money is summed in
SQL per currency: every money query filters one currency.

On Spark (``TALLYHOUSE_ENGINE=spark``) the marts dbt builds are read from Spark's Thrift
server: each query, written once in PostgreSQL's SQL, is translated to Spark's dialect with
its parameters written in as literals by the SQL parser, and runs through the same checks as
an analyst's query there (one query, tables of ``marts`` only). The reconciliation history
(``rpt_reconciliation_*``) is the control plane's and is read from PostgreSQL on both
engines (``control=True``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from streamlit.connections import SQLConnection

from tallyhouse import db, roles
from tallyhouse.engine import engine

TTL_SECONDS = 300


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    currency: str
    platforms: tuple[str, ...] = ()
    products: tuple[str, ...] = ()  # product keys; empty = every product

    def previous(self) -> Filters:
        """The same filters over the period of the same length just before."""
        length = (self.end - self.start).days + 1
        return replace(self, start=self.start - timedelta(days=length),
                       end=self.start - timedelta(days=1))

    def params(self) -> dict:
        return {"start": self.start, "end": self.end, "currency": self.currency,
                "platforms": list(self.platforms), "all_platforms": not self.platforms,
                "products": list(self.products), "all_products": not self.products}


def where(date_column: str = "order_date", alias: str = "", currency: bool = True,
          product: bool = True, monthly: bool = False) -> str:
    """The filter every page shares. A monthly table keeps the month the range starts in."""
    p = f"{alias}." if alias else ""
    start = "date_trunc('month', cast(:start as date))" if monthly else ":start"
    parts = [f"{p}{date_column} between {start} and :end",
             f"(:all_platforms or {p}platform = any(:platforms))"]
    if product:
        parts.append(f"(:all_products or {p}product_key = any(:products))")
    if currency:
        parts.append(f"{p}currency_code = :currency")
    return " and ".join(parts)


@st.cache_resource(show_spinner=False)
def _connection_name() -> str:
    url = db.reader_sqlalchemy_url(roles.dashboard_url())
    return "warehouse-" + hashlib.sha256(url.encode()).hexdigest()[:12]


@st.cache_resource(show_spinner=False)
def connection() -> SQLConnection:
    """Streamlit's SQL connection to the warehouse, as tallyhouse_dashboard (read-only by the
    role's settings, marts only: tallyhouse.roles; psycopg 3, parameters bound by the
    server). Named after a digest of the URL, never the URL, so two warehouses never share a
    cache."""
    from tallyhouse.readers import reader_options

    return st.connection(_connection_name(), type="sql",
                         url=db.reader_sqlalchemy_url(roles.dashboard_url()),
                         pool_pre_ping=True, pool_size=2, max_overflow=2,
                         connect_args={"options": reader_options(),
                                       "application_name": "tallyhouse dashboards"})


def _on_spark(control: bool) -> bool:
    return not control and engine() == "spark"


def read(sql: str, params: dict | None = None, control: bool = False) -> pd.DataFrame:
    """A query's rows, not cached. The connection goes back to the pool at once: Streamlit's
    own ``query()`` leaves it checked out, idle in a transaction, until garbage collection
    — holding locks that would make the nightly build's DDL wait on an open dashboard.
    ``control``: a table of the run history, in PostgreSQL on every engine."""
    if _on_spark(control):
        return _read_spark(sql, params)
    with connection().connect() as conn:
        return pd.read_sql(sa.text(sql), conn, params=params or {})


def _read_spark(sql: str, params: dict | None) -> pd.DataFrame:
    from tallyhouse.spark import readers
    from tallyhouse.spark.checks import with_values

    found = readers.run_read_only(with_values(sql, params), where=_spark_endpoint())
    return pd.DataFrame.from_records(found.rows, columns=found.columns)


def _warehouse(control: bool) -> str:
    """What a cached result belongs to: the PostgreSQL warehouse and, on Spark, the server."""
    if not _on_spark(control):
        return _connection_name()

    where = _spark_endpoint()
    return f"{_connection_name()}|spark@{where.host}:{where.port}"


def _spark_endpoint():
    """The Spark in use; the dashboards never start one (a page load would wait for a JVM):
    SparkError says how when none is running."""
    from tallyhouse.spark import server

    return server.endpoint(start=False)


def engine_problem() -> str | None:
    """Why the warehouse's engine cannot be read (a bad setting, Spark not running), or
    None."""
    from tallyhouse.engine import EngineError

    try:
        if engine() == "spark":
            from tallyhouse.spark import server

            where = _spark_endpoint()
            if not server.answers(where):
                return f"{where.describe()} does not answer."
    except EngineError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - SparkError and Spark's own
        return str(error)
    return None


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _cached(warehouse: str, sql: str, params: dict, control: bool) -> pd.DataFrame:
    return read(sql, params, control)


def frame(sql: str, params: dict | None = None, control: bool = False) -> pd.DataFrame:
    """A query's rows, cached for TTL_SECONDS per warehouse, query and parameters."""
    return _cached(_warehouse(control), sql, params or {}, control)


def clear_caches() -> None:
    """Forget cached rows and the connection (after the warehouse changed under them)."""
    st.cache_data.clear()
    connection.clear()
    _connection_name.clear()


def table_exists(name: str, control: bool = False) -> bool:
    if _on_spark(control):
        from tallyhouse.readers import NotBuilt

        try:
            frame(f"select 1 as present from {name} limit 0")
        except NotBuilt:
            return False
        return True
    return bool(frame("select to_regclass(:name) is not null as present",
                      {"name": name}, control)["present"].iloc[0])


def warehouse_ready() -> bool:
    return table_exists("marts.agg_daily_sales")


# ------------------------------------------------------------------------ filter choices

def choices() -> dict:
    """What the filters offer; ``days``: transactions per order day (the period presets
    compute a robust span from it: an implausible date does not stretch the defaults)."""
    days = frame("select order_date, sum(transactions) as transactions "
                 "from marts.agg_daily_sales group by 1 order by 1")
    currencies = frame("select currency_code, sum(gross_amount) as gross from "
                       "marts.agg_daily_sales group by 1 order by 2 desc")["currency_code"]
    platforms = frame("select distinct platform from marts.agg_daily_sales order by 1")
    products = frame("select product_key, name from marts.dim_products order by name")
    return {"days": days, "currencies": list(currencies), "platforms": list(platforms["platform"]),
            "products": dict(zip(products["product_key"], products["name"], strict=True))}


def freshness() -> dict:
    """The freshness line: the latest order day, the latest reconciliation run and its
    breaks."""
    data = frame("select max(order_date) as data_up_to from marts.agg_daily_sales "
                 "where order_date <= current_date")
    out = {"data_up_to": data["data_up_to"].iloc[0], "last_run_at": None, "open_breaks": 0}
    if table_exists("marts.rpt_reconciliation_summary", control=True):
        run = frame("""
            select run_at, breaks from (
                select run_id, max(run_at) as run_at, sum(break_count) as breaks
                from marts.rpt_reconciliation_summary group by run_id
            ) as runs order by run_at desc limit 1""", control=True)
        if not run.empty:
            out["last_run_at"], out["open_breaks"] = run["run_at"].iloc[0], run["breaks"].iloc[0]
    return out


# ------------------------------------------------------------------------ sales

GRAINS = {"Day": "day", "Week": "week", "Month": "month"}


def sales_totals(f: Filters) -> pd.DataFrame:
    return frame(f"""
        select coalesce(sum(approved_transactions), 0) as approved_transactions,
               coalesce(sum(gross_amount), 0) as gross_amount,
               coalesce(sum(fee_amount), 0) as fee_amount,
               coalesce(sum(commission_amount), 0) as commission_amount,
               coalesce(sum(net_amount), 0) as net_amount
        from marts.agg_daily_sales where {where()}""", f.params())


def sales_trend(f: Filters, grain: str) -> pd.DataFrame:
    unit = GRAINS[grain]
    return frame(f"""
        select date_trunc('{unit}', order_date)::date as period,
               sum(approved_transactions) as approved_transactions,
               sum(gross_amount) as gross_amount, sum(net_amount) as net_amount,
               sum(gross_amount) / nullif(sum(approved_transactions), 0) as average_ticket
        from marts.agg_daily_sales where {where()}
        group by 1 order by 1""", f.params())


def sales_by(f: Filters, dimension: str) -> pd.DataFrame:
    column = {"platform": "s.platform", "product": "p.name"}[dimension]
    return frame(f"""
        select {column} as {dimension},
               sum(s.approved_transactions) as approved_transactions,
               sum(s.gross_amount) as gross_amount, sum(s.net_amount) as net_amount,
               sum(s.gross_amount) / nullif(sum(s.approved_transactions), 0) as average_ticket
        from marts.agg_daily_sales as s
        left join marts.dim_products as p on s.product_key = p.product_key
        where {where(alias='s')}
        group by 1 having sum(s.approved_transactions) > 0 order by 3 desc""", f.params())


# ------------------------------------------------------------------------ refunds

def refund_rates_by(f: Filters, dimension: str) -> pd.DataFrame:
    """Refund rate = refunds and partial refunds / transactions approved, by count; the
    amount rate is the amount refunded / the gross approved, in the chosen currency."""
    column = {"product": "p.name", "platform": "s.platform",
              "month": "date_trunc('month', s.order_date)::date"}[dimension]
    return frame(f"""
        select {column} as {dimension},
               sum(s.approved_transactions) as approved_transactions,
               sum(s.refunds) as refunds, sum(s.chargebacks) as chargebacks,
               sum(s.refunds)::numeric / nullif(sum(s.approved_transactions), 0) as refund_rate,
               sum(s.chargebacks)::numeric / nullif(sum(s.approved_transactions), 0)
                   as chargeback_rate,
               sum(s.refunded_amount) as refunded_amount,
               sum(s.refunded_amount) / nullif(sum(s.gross_amount), 0) as refund_amount_rate
        from marts.agg_daily_sales as s
        left join marts.dim_products as p on s.product_key = p.product_key
        where {where(alias='s')}
        group by 1 having sum(s.approved_transactions) > 0 order by 1""", f.params())


def refund_breakdown(f: Filters) -> pd.DataFrame:
    return frame(f"""
        select kind, method,
               case when within_warranty then 'within warranty' else 'after warranty' end
                   as warranty,
               sum(refunds) as refunds, sum(refunded_amount) as refunded_amount
        from marts.agg_monthly_refunds
        where {where('order_month', monthly=True)}
        group by 1, 2, 3 order by 4 desc""", f.params())


# ------------------------------------------------------------------------ payment methods

def payment_methods(f: Filters) -> pd.DataFrame:
    return frame(f"""
        select payment_method, sum(transactions) as transactions,
               sum(approved_transactions) as approved_transactions,
               sum(approved_transactions)::numeric / nullif(sum(transactions), 0)
                   as approval_rate,
               sum(gross_amount) as gross_amount,
               sum(installment_transactions) as installment_transactions
        from marts.agg_daily_sales where {where()}
        group by 1 order by 5 desc""", f.params())


def installments(f: Filters) -> pd.DataFrame:
    return frame(f"""
        select payment_method, installments_number,
               sum(approved_transactions) as approved_transactions,
               sum(gross_amount) as gross_amount
        from marts.agg_monthly_installments
        where {where('order_month', monthly=True)}
        group by 1, 2 order by 1, 2""", f.params())


# ------------------------------------------------------------------------ reconciliation

def reconciliation_runs() -> pd.DataFrame:
    return frame("""
        select run_id, max(run_at) as run_at, count(*) as checks,
               count(*) filter (where not passed) as failed_checks,
               sum(break_count) as breaks,
               count(*) filter (where not passed and severity = 'ERROR') as structural_failures
        from marts.rpt_reconciliation_summary group by run_id order by 2""", control=True)


def reconciliation_checks(run_id: str) -> pd.DataFrame:
    return frame("""
        select invariant, check_name, severity, passed, break_count, checked_table,
               description, error
        from marts.rpt_reconciliation_summary where run_id = :run_id
        order by invariant, check_name""", {"run_id": run_id}, control=True)


def reconciliation_stakes(run_id: str, platforms: tuple[str, ...]) -> pd.DataFrame:
    return frame("""
        select check_name, platform, unit, sum(breaks) as breaks,
               sum(amount_at_stake) as amount_at_stake
        from marts.rpt_reconciliation_stakes
        where run_id = :run_id and (:all_platforms or platform = any(:platforms))
        group by 1, 2, 3 order by 1, 2, 3""",
                 {"run_id": run_id, "platforms": list(platforms), "all_platforms": not platforms},
                 control=True)


def reconciliation_breaks(run_id: str, check_name: str, platforms: tuple[str, ...]
                          ) -> pd.DataFrame:
    return frame("""
        select break_kind, entity_type, entity_id, platform, coalesce(currency_code, unit)
                   as unit, expected, actual, difference, amount_at_stake, detail
        from marts.rpt_reconciliation_breaks
        where run_id = :run_id and check_name = :check_name
          and (:all_platforms or platform = any(:platforms))
        order by amount_at_stake desc nulls last, entity_id limit 5000""",
                 {"run_id": run_id, "check_name": check_name, "platforms": list(platforms),
                  "all_platforms": not platforms}, control=True)


# ------------------------------------------------------------------------ subscriptions

def subscriptions_monthly(f: Filters) -> pd.DataFrame:
    return frame(f"""
        select month, sum(active_at_start) as active_at_start, sum(started) as started,
               sum(active_at_start) + sum(started) as at_risk,
               sum(churned) as churned, sum(active_at_end) as active_at_end,
               -- churn = cancelled in the month / at risk in it (active at its start or
               -- started in it): every cancelled subscription is one of those at risk, so
               -- no month is above 100 %
               sum(churned)::numeric
                   / nullif(sum(active_at_start) + sum(started), 0) as churn_rate,
               sum(monthly_recurring_amount) as monthly_recurring_amount
        from marts.agg_monthly_subscriptions
        where {where('month', product=False, monthly=True)}
        group by 1 order by 1""", f.params())


def subscriptions_by_plan(f: Filters) -> pd.DataFrame:
    return frame(f"""
        with last as (
            select max(month) as month from marts.agg_monthly_subscriptions
            where {where('month', product=False, monthly=True)}
        )
        select platform, plan_name, sum(active_at_end) as active,
               sum(monthly_recurring_amount) as monthly_recurring_amount
        from marts.agg_monthly_subscriptions
        where month = (select month from last) and currency_code = :currency
          and (:all_platforms or platform = any(:platforms))
        group by 1, 2 order by 4 desc""", f.params())


# ------------------------------------------------------------------------ loyalty

def points_liability() -> pd.DataFrame:
    return frame("""
        select count(*) as accounts, coalesce(sum(balance_points), 0) as balance_points,
               coalesce(sum(open_hold_points), 0) as open_hold_points,
               coalesce(sum(available_points), 0) as available_points
        from marts.dim_points_accounts""")


def points_accounts() -> pd.DataFrame:
    return frame("""
        select account_id, balance_points, open_hold_points, available_points,
               credited_points, debited_points, last_entry_at
        from marts.dim_points_accounts order by balance_points desc""")


def redemptions(f: Filters) -> pd.DataFrame:
    return frame("""
        select date_trunc('month', created_at)::date as month, order_status,
               count(*) as orders, sum(total_points) as points
        from marts.fct_redemption_orders
        where created_at::date between :start and :end
        group by 1, 2 order by 1, 2""", f.params())


def gift_cards(f: Filters) -> pd.DataFrame:
    return frame("""
        select count(*) as cards, count(*) filter (where balance_amount > 0) as with_balance,
               coalesce(sum(credited_amount), 0) as credited_amount,
               coalesce(sum(redeemed_amount), 0) as redeemed_amount,
               coalesce(sum(balance_amount), 0) as balance_amount,
               coalesce(sum(voucher_credits), 0) as voucher_credits
        from marts.fct_gift_cards where currency_code = :currency""", f.params())
