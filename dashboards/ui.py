"""What every page shares: the persistent filters, formats, empty states, charts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import queries
from tallyhouse.config import business_time_zone
from tallyhouse.money import format_amount

FILTERS_KEY = "tallyhouse_filters"


def sidebar_filters() -> None:
    """Date range, platform, product and currency in the sidebar. Their widgets live in the
    entry script, so a choice stays when the page changes."""
    if not queries.warehouse_ready():
        st.session_state[FILTERS_KEY] = None
        return
    options = queries.choices()
    if options["first"] is None:
        st.session_state[FILTERS_KEY] = None
        return
    with st.sidebar:
        st.header("Filters")
        picked = st.date_input("Order dates", value=(options["first"], options["last"]),
                               min_value=options["first"], max_value=options["last"],
                               key="filter_dates", format="DD/MM/YYYY",
                               help=f"Business days in {business_time_zone()}.")
        start, end = _range(picked, options["first"], options["last"])
        currency = st.selectbox("Currency", options["currencies"], key="filter_currency",
                                help="Money is never summed across currencies.")
        platforms = st.multiselect("Platforms", options["platforms"], key="filter_platforms",
                                   placeholder="All platforms")
        names = options["products"]
        products = st.multiselect("Products", list(names), key="filter_products",
                                  format_func=lambda key: names.get(key, key),
                                  placeholder="All products")
        st.caption("Empty platform or product = all of them. Days are business days in "
                   f"{business_time_zone()}.")
    st.session_state[FILTERS_KEY] = queries.Filters(
        start=start, end=end, currency=currency or "BRL", platforms=tuple(platforms),
        products=tuple(products))


def _range(picked, first: date, last: date) -> tuple[date, date]:
    if isinstance(picked, (tuple, list)):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
        return first, last
    return picked, picked


def filters_or_stop() -> queries.Filters:
    """The filters; on an empty warehouse a clear message and the page ends there."""
    current = st.session_state.get(FILTERS_KEY)
    if current is None:
        st.info("The warehouse has no data yet. Run `make run` (or `tallyhouse run`) to load "
                "the extracts and build the marts, then reload this page.")
        st.stop()
    return current


def no_data(what: str = "data") -> None:
    st.info(f"No {what} for this selection. Widen the dates or clear the platform / product "
            "filters in the sidebar.")


def local_time(value) -> str:
    """A run time as finance reads it: dd/mm/yyyy hh:mm in the business time zone."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return f"{stamp.tz_convert(business_time_zone()):%d/%m/%Y %H:%M}"


def money(value, currency: str) -> str:
    return format_amount(value if value is not None else 0, currency)


def pct(value) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{Decimal(str(value)) * 100:.2f}%".replace(".", ",")


def integer(value) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def show_table(df: pd.DataFrame, money_columns=(), pct_columns=(), currency: str = "BRL",
               key: str | None = None) -> None:
    """A table with amounts formatted for the currency (R$ 1.234,56) and rates as %."""
    shown = df.copy()
    for column in money_columns:
        shown[column] = [money(v, currency) for v in shown[column]]
    for column in pct_columns:
        shown[column] = [pct(v) for v in shown[column]]
    shown.columns = [label(c) for c in shown.columns]
    st.dataframe(shown, hide_index=True, width="stretch", key=key)


def label(column: str) -> str:
    """refund_amount_rate -> Refund amount rate."""
    return column.replace("_", " ").capitalize()


def money_axis(currency: str) -> alt.Axis:
    """Axis labels written like the figures beside the chart: 1.234.567 (thousands with a
    dot, no decimals), the currency in the title."""
    return alt.Axis(title=currency, labelExpr="replace(format(datum.value, ',.0f'), "
                                              "regexp(',', 'g'), '.')")


def count_axis(title: str) -> alt.Axis:
    """Whole numbers only (no 0.5 transactions), thousands with a dot."""
    return alt.Axis(title=title, tickMinStep=1,
                    labelExpr="replace(format(datum.value, ',.0f'), regexp(',', 'g'), '.')")


def floats(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Chart copies only: charts draw floats; every figure shown as text stays exact."""
    out = df.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def waterfall(steps: list[tuple[str, Decimal]], currency: str) -> alt.Chart:
    """Gross, then each deduction, then the net: bars that float from one to the next."""
    rows, level = [], Decimal(0)
    for number, (label, amount) in enumerate(steps):
        total = number in (0, len(steps) - 1)
        start, end = (Decimal(0), amount) if total else (level, level + amount)
        rows.append({"step": f"{number + 1}. {label}", "start": float(start),
                     "end": float(end), "kind": "total" if total else "deduction",
                     "amount": money(amount, currency)})
        level = end
    data = pd.DataFrame(rows)
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("step:N", sort=None, title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("start:Q", axis=money_axis(currency)), y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["total", "deduction"],
                                                  range=["#3c7dc4", "#d9822b"]), legend=None),
        tooltip=["step", "amount"],
    ).properties(height=320)
