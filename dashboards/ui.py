"""What every page shares: the filters (in the URL), the period presets, the freshness line,
KPIs with their change, tables that keep numbers numeric (and export them), words for
codes, Portuguese dates on axes, partial periods marked.

One number format everywhere, for every currency: pt-BR (``R$ 1.234,56``, ``US$ 1.234,56``,
``5.961``, ``16,8%``, ``02/12/2026``, ``dez/2026``) — :mod:`tallyhouse.money`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import queries
from tallyhouse.config import business_time_zone
from tallyhouse.money import (
    CURRENCY_SYMBOLS,
    MONTHS,
    format_amount,
    format_count,
    format_date,
    format_month,
    format_rate,
)

FILTERS_KEY = "tallyhouse_filters"
PERIOD_KEY = "tallyhouse_period"
PRESETS = ("Yesterday", "Last 7 days", "Last 30 days", "Month to date", "Last month",
           "Year to date", "All", "Custom")
DEFAULT_PRESET = "Last 30 days"
# a run of days this far from the rest of the history, holding this little of it, is left
# out of the default span (a docs example dated 1970 must not stretch every chart)
ISLAND_GAP_DAYS = 90
ISLAND_SHARE = 0.01
GUARANTEE_DAYS = 30  # the longest guarantee the platforms allow: refunds still to come


# ------------------------------------------------------------------------ words and formats

WORDS = {
    # platforms
    "hotmart": "Hotmart", "kiwify": "Kiwify", "eduzz": "Eduzz", "pix": "PIX",
    "giftcards": "Gift cards", "loyalty": "Loyalty",
    # payment methods
    "credit_card": "Credit card", "debit_card": "Debit card", "boleto": "Boleto",
    "boleto_installment": "Boleto in installments", "bank_transfer": "Bank transfer",
    "paypal": "PayPal", "digital_wallet": "Digital wallet", "cryptocurrency": "Cryptocurrency",
    "gift_card": "Gift card", "points": "Points", "unknown": "Unknown",
    # refunds
    "refund": "Refund", "partial_refund": "Partial refund", "chargeback": "Chargeback",
    "original_payment": "Original payment method", "pix_devolution": "PIX devolution",
    "gift_card_voucher": "Gift-card voucher",
    # redemption orders
    "CANCELLED": "Cancelled", "COMPLETED": "Completed", "PENDING": "Pending",
    # figures
    "refund_rate": "Refund rate", "chargeback_rate": "Chargeback rate",
    "refund_amount_rate": "Refund amount rate",
}


def words(value) -> str:
    """A code as finance reads it: ``original_payment`` → Original payment method."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    text = str(value)
    if text in WORDS:
        return WORDS[text]
    return text.replace("_", " ").capitalize() if ("_" in text or text.isupper()) else text


def label(column: str) -> str:
    """refund_amount_rate -> Refund amount rate."""
    return WORDS.get(column) or column.replace("_", " ").capitalize()


def money(value, currency: str) -> str:
    return format_amount(value if value is not None else 0, currency)


def pct(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return format_rate(value, 2)


def integer(value) -> str:
    return format_count(value or 0)


def local_time(value) -> str:
    """A run time as finance reads it: dd/mm/yyyy hh:mm in the business time zone."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return f"{stamp.tz_convert(business_time_zone()):%d/%m/%Y %H:%M}"


def today() -> date:
    return datetime.now(ZoneInfo(business_time_zone())).date()


# ------------------------------------------------------------------------ the period

@dataclass(frozen=True)
class Span:
    first: date  # the first plausible day of history
    last: date  # the last day with data, never after today
    earliest: date  # the first day of all, implausible ones included (the picker's minimum)
    anchor: date  # "today" for the presets: today, or the day after the data ends

    @property
    def lowest(self) -> date:
        """The date picker's minimum: every day of history and every preset's first day."""
        return min(self.earliest, date(self.anchor.year - 1, 12, 1))

    @property
    def stale(self) -> bool:
        return self.anchor != today()


def robust_span(days: list[tuple[date, int]], now: date) -> Span | None:
    """The span of history the defaults use: days after today are left out, and so is a
    leading island of days more than ISLAND_GAP_DAYS before the rest that holds less than
    ISLAND_SHARE of the transactions (a record dated 1970 among 2026's)."""
    known = sorted((d, n) for d, n in days if d is not None and d <= now)
    if not known:
        return None
    total = sum(n for _, n in known) or 1
    start, seen = 0, 0
    for i in range(1, len(known)):
        seen += known[i - 1][1]
        if (known[i][0] - known[i - 1][0]).days > ISLAND_GAP_DAYS and seen / total < ISLAND_SHARE:
            start = i
    last = known[-1][0]
    anchor = now if last >= now - timedelta(days=1) else last + timedelta(days=1)
    return Span(first=known[start][0], last=last, earliest=known[0][0], anchor=anchor)


def preset_range(preset: str, span: Span) -> tuple[date, date]:
    t = span.anchor
    if preset == "Yesterday":
        return t - timedelta(days=1), t - timedelta(days=1)
    if preset == "Last 7 days":
        return t - timedelta(days=7), t - timedelta(days=1)
    if preset == "Last 30 days":
        return t - timedelta(days=30), t - timedelta(days=1)
    if preset == "Month to date":
        return t.replace(day=1), t
    if preset == "Last month":
        end = t.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if preset == "Year to date":
        return t.replace(month=1, day=1), t
    return span.first, span.last


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before [start, end]."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


# ------------------------------------------------------------------------ filters in the URL

def _from_url(options: dict, span: Span) -> None:
    """On a session's first run, the filters a shared link carries."""
    if st.session_state.get("_filters_from_url"):
        return
    st.session_state["_filters_from_url"] = True
    params = st.query_params
    preset = params.get("period")
    if preset:
        match = next((p for p in PRESETS if p.lower().replace(" ", "-") == preset), None)
        if match:
            st.session_state["filter_preset"] = match
    try:
        start = date.fromisoformat(params["from"]) if params.get("from") else None
        end = date.fromisoformat(params["to"]) if params.get("to") else None
    except ValueError:
        start = end = None
    if start and end and start <= end:
        st.session_state["filter_preset"] = "Custom"
        st.session_state["filter_dates"] = (max(start, span.lowest),
                                            min(end, max(span.last, span.anchor)))
    if params.get("currency") in options["currencies"]:
        st.session_state["filter_currency"] = params["currency"]
    platforms = [p for p in params.get_all("platform") if p in options["platforms"]]
    if platforms:
        st.session_state["filter_platforms"] = platforms
    products = [p for p in params.get_all("product") if p in options["products"]]
    if products:
        st.session_state["filter_products"] = products


def _to_url(f: queries.Filters, preset: str) -> None:
    wanted: dict[str, object] = {}
    if preset == "Custom":
        wanted["from"], wanted["to"] = f.start.isoformat(), f.end.isoformat()
    elif preset != DEFAULT_PRESET:
        wanted["period"] = preset.lower().replace(" ", "-")
    if f.currency != "BRL":
        wanted["currency"] = f.currency
    if f.platforms:
        wanted["platform"] = list(f.platforms)
    if f.products:
        wanted["product"] = list(f.products)
    current = {k: (st.query_params.get_all(k) if k in ("platform", "product")
                   else st.query_params.get(k)) for k in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)


def _apply_preset() -> None:
    span: Span | None = st.session_state.get(PERIOD_KEY)
    preset = st.session_state.get("filter_preset")
    if span and preset and preset != "Custom":
        st.session_state["filter_dates"] = preset_range(preset, span)


def _dates_changed() -> None:
    st.session_state["filter_preset"] = "Custom"


def sidebar_filters() -> None:
    """Period, dates, currency, platforms and products in the sidebar, mirrored in the URL
    (a view can be shared). Their widgets live in the entry script, so a choice stays when
    the page changes."""
    if not queries.warehouse_ready():
        st.session_state[FILTERS_KEY] = None
        return
    options = queries.choices()
    span = robust_span(list(zip(options["days"]["order_date"],
                                options["days"]["transactions"], strict=True)), today())
    if span is None:
        st.session_state[FILTERS_KEY] = None
        return
    st.session_state[PERIOD_KEY] = span
    _from_url(options, span)
    if st.session_state.get("filter_preset") not in PRESETS:
        st.session_state["filter_preset"] = DEFAULT_PRESET
    if "filter_dates" not in st.session_state or (
            st.session_state["filter_preset"] != "Custom"):
        st.session_state["filter_dates"] = preset_range(st.session_state["filter_preset"], span)
    with st.sidebar:
        st.header("Filters")
        preset = st.selectbox("Period", PRESETS, key="filter_preset", on_change=_apply_preset,
                              help="Presets count back from today (business days in "
                                   f"{business_time_zone()}); \"All\" is the whole history "
                                   "without implausible dates.")
        # up to "today" of the presets: month to date may end on a day with no data yet
        picked = st.date_input("Order dates", min_value=span.lowest,
                               max_value=max(span.last, span.anchor),
                               key="filter_dates", format="DD/MM/YYYY",
                               on_change=_dates_changed)
        start, end = _range(picked, span.first, span.last)
        if span.stale:
            st.caption(f"The data ends on {format_date(span.last)}: the presets count back "
                       f"from {format_date(span.anchor)}.")
        currency = st.selectbox("Currency", options["currencies"], key="filter_currency",
                                help="Money is never summed across currencies.")
        platforms = st.multiselect("Platforms", options["platforms"], key="filter_platforms",
                                   format_func=words, placeholder="All platforms")
        names = options["products"]
        products = st.multiselect("Products", list(names), key="filter_products",
                                  format_func=lambda key: names.get(key, key),
                                  placeholder="All products")
        st.caption("Empty platform or product = all of them. The address of this page "
                   "keeps the filters: copy it to share the view.")
    filters = queries.Filters(start=start, end=end, currency=currency or "BRL",
                              platforms=tuple(platforms), products=tuple(products))
    st.session_state[FILTERS_KEY] = filters
    _to_url(filters, preset)


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


def page_header(title: str) -> None:
    """The page's title and the freshness line: data up to, last run, open breaks."""
    st.title(title)
    st.caption(freshness_line())


def freshness_line() -> str:
    if not queries.warehouse_ready():
        return "No data yet."
    fresh = queries.freshness()
    parts = [f"Data up to {format_date(fresh['data_up_to'])}" if fresh["data_up_to"]
             else "No sale yet"]
    if fresh["last_run_at"] is not None:
        parts.append(f"last run {local_time(fresh['last_run_at'])}")
        breaks = int(fresh["open_breaks"] or 0)
        parts.append("no open break" if not breaks
                     else f"{format_count(breaks)} open break{'s' if breaks != 1 else ''}")
    else:
        parts.append("no reconciliation run yet")
    return " · ".join(parts) + f" · times in {business_time_zone()}"


def no_data(what: str = "data") -> None:
    st.info(f"No {what} for this selection. Widen the dates or clear the platform / product "
            "filters in the sidebar.")


# ------------------------------------------------------------------------ KPIs

def change(now, before, kind: str = "money") -> str | None:
    """The change vs the previous period: ``+12,3%`` (``+1,2 p.p.`` for a rate)."""
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return None
    now, before = Decimal(str(now)), Decimal(str(before))
    if kind == "rate":
        points = (now - before) * 100
        return f"{'+' if points >= 0 else '-'}{format_rate(abs(points) / 100, 1)[:-1]} p.p."
    if before == 0:
        return None if now == 0 else "new"
    relative = (now - before) / abs(before)
    return f"{'+' if relative >= 0 else '-'}{format_rate(abs(relative), 1)}"


def kpi(column, title: str, now, before, kind: str, currency: str = "BRL",
        f: queries.Filters | None = None, inverse: bool = False) -> None:
    shown = {"money": lambda v: money(v, currency), "count": integer, "rate": pct}[kind](now)
    delta = change(now, before, kind)
    help_text = None
    if f is not None:
        first, last = previous_period(f.start, f.end)
        was = {"money": lambda v: money(v, currency), "count": integer, "rate": pct}[kind](
            before)
        help_text = (f"{was} in the previous period of the same length, "
                     f"{format_date(first)}–{format_date(last)}.")
    column.metric(title, shown, delta=delta if delta != "new" else None,
                  delta_color="inverse" if inverse else "normal", help=help_text)


# ------------------------------------------------------------------------ tables

@dataclass(frozen=True)
class Columns:
    money: tuple[str, ...] = ()
    rates: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # shown in words


def show_table(df: pd.DataFrame, money_columns=(), pct_columns=(), currency: str = "BRL",
               key: str | None = None, counts=(), dates=(), months=(), codes=()) -> None:
    """A table whose numbers stay numbers (it sorts by value, its exports hold numbers) and
    read pt-BR: amounts in the currency (R$ 1.234,56), rates as %, counts with a dot, days
    dd/mm/yyyy, months in Portuguese; codes in words. CSV and Excel downloads below it."""
    spec = Columns(tuple(money_columns), tuple(pct_columns), tuple(counts), tuple(dates),
                   tuple(months), tuple(codes))
    data = table_data(df, spec)
    formats = {}
    for column in data.columns:
        source = _source(column, df)
        if source in spec.money:
            formats[column] = lambda v, c=currency: "" if pd.isna(v) else money(v, c)
        elif source in spec.rates:
            formats[column] = lambda v: pct(v)
        elif source in spec.dates:
            formats[column] = lambda v: "—" if pd.isna(v) else format_date(v)
        elif source in spec.months:
            formats[column] = lambda v: "—" if pd.isna(v) else format_month(v)
        elif pd.api.types.is_numeric_dtype(data[column]):
            formats[column] = lambda v: "—" if pd.isna(v) else format_count(v)
    st.dataframe(data.style.format(formats), hide_index=True, width="stretch", key=key)
    if key:
        left, right, _ = st.columns([1, 1, 6])
        left.download_button("CSV", csv_bytes(data), file_name=f"{key}.csv", mime="text/csv",
                             key=f"{key}_csv", icon=":material/download:")
        right.download_button("Excel", excel_bytes(data, spec, currency, df),
                              file_name=f"{key}.xlsx", key=f"{key}_xlsx",
                              mime="application/vnd.openxmlformats-officedocument."
                                   "spreadsheetml.sheet", icon=":material/download:")


def _source(shown: str, df: pd.DataFrame) -> str:
    return next((c for c in df.columns if label(c) == shown), shown)


def table_data(df: pd.DataFrame, spec: Columns) -> pd.DataFrame:
    """The table's values: numbers as numbers (floats for the grid), codes in words, human
    column names."""
    data = df.copy()
    for column in data.columns:
        if column in spec.codes:
            data[column] = [words(v) for v in data[column]]
        elif column in spec.money or column in spec.rates or column in spec.counts or (
                data[column].dtype == object and len(data) and all(
                    isinstance(v, (Decimal, int, float)) or v is None
                    for v in data[column])):
            data[column] = pd.to_numeric(data[column], errors="coerce").astype(float)
        elif column in spec.dates or column in spec.months:
            data[column] = pd.to_datetime(data[column])
    data.columns = [label(c) for c in data.columns]
    return data


def csv_bytes(data: pd.DataFrame) -> bytes:
    """Numbers as numbers (``1234.5``), days ISO: what another program reads."""
    out = data.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.date
    return out.to_csv(index=False).encode("utf-8")


def excel_bytes(data: pd.DataFrame, spec: Columns, currency: str,
                source: pd.DataFrame) -> bytes:
    """An .xlsx whose amounts, counts and rates are numeric cells with a number format
    (the spreadsheet shows them in the reader's own separators); days are dates."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("data")
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    styles = {"money": book.add_format({"num_format": f'"{symbol}" #,##0.00'}),
              "rate": book.add_format({"num_format": "0.00%"}),
              "count": book.add_format({"num_format": "#,##0"}),
              "date": book.add_format({"num_format": "dd/mm/yyyy"}),
              "month": book.add_format({"num_format": "mm/yyyy"}),
              "head": book.add_format({"bold": True})}
    for col, name in enumerate(data.columns):
        origin = _source(name, source)
        style = ("money" if origin in spec.money else "rate" if origin in spec.rates
                 else "date" if origin in spec.dates else "month" if origin in spec.months
                 else "count" if pd.api.types.is_numeric_dtype(data[name]) else None)
        sheet.write(0, col, name, styles["head"])
        sheet.set_column(col, col, max(12, len(name) + 2))
        for row, value in enumerate(data[name], start=1):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            if style in ("date", "month"):
                sheet.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(),
                                     styles[style])
            elif style:
                sheet.write_number(row, col, float(value), styles[style])
            else:
                sheet.write_string(row, col, str(value))
    book.close()
    return buffer.getvalue()


# ------------------------------------------------------------------------ charts

MONTH_NAMES = "[" + ",".join(f"'{m}'" for m in MONTHS) + "]"
DAY_LABEL = "timeFormat(datum.value, '%d/%m')"
MONTH_LABEL = f"{MONTH_NAMES}[month(datum.value)] + '/' + timeFormat(datum.value, '%y')"


def date_axis(grain: str = "day", title: str | None = None) -> alt.Axis:
    """Dates in Portuguese: 02/12 for days and weeks, dez/26 for months; one tick per
    month or week at most (never two labels for one month)."""
    return alt.Axis(title=title, labelExpr=MONTH_LABEL if grain == "month" else DAY_LABEL,
                    labelAngle=0, labelOverlap=True,
                    tickCount={"interval": grain if grain in ("month", "week") else "day",
                               "step": 1})


def month_bars_x(field: str) -> alt.X:
    """A bar per month: one band per month, labelled in Portuguese."""
    return alt.X(f"yearmonth({field}):O", title=None,
                 axis=alt.Axis(labelExpr=MONTH_LABEL, labelAngle=0))


def money_axis(currency: str) -> alt.Axis:
    """Axis labels written like the figures beside the chart: 1.234.567 (thousands with a
    dot, no decimals), the currency in the title."""
    return alt.Axis(title=CURRENCY_SYMBOLS.get(currency, currency),
                    labelExpr="replace(format(datum.value, ',.0f'), regexp(',', 'g'), '.')")


def count_axis(title: str) -> alt.Axis:
    """Whole numbers only (no 0.5 transactions), thousands with a dot."""
    return alt.Axis(title=title, tickMinStep=1,
                    labelExpr="replace(format(datum.value, ',.0f'), regexp(',', 'g'), '.')")


def rate_axis(title: str | None = None) -> alt.Axis:
    """Percentages with a decimal comma: 12,5%."""
    return alt.Axis(title=title, labelExpr="replace(format(datum.value, '.1~%'), '.', ',')")


def floats(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Chart copies only: charts draw floats; every figure shown as text stays exact."""
    out = df.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def period_label(value, grain: str) -> str:
    day = pd.Timestamp(value).date()
    if grain == "month":
        return format_month(day)
    if grain == "week":
        return f"week of {format_date(day)}"
    return format_date(day)


def mark_partial(df: pd.DataFrame, column: str, grain: str, f: queries.Filters,
                 cut_by_range: bool = True) -> pd.DataFrame:
    """A ``partial`` column: the period is not wholly inside the days the data covers
    (the range cut it, or it is still going on: the last day of data when it is today).
    ``cut_by_range=False`` for monthly aggregates, which hold whole months whatever the
    range."""
    span: Span | None = st.session_state.get(PERIOD_KEY)
    first = (max(f.start, span.first) if span else f.start) if cut_by_range else (
        span.first if span else date.min)
    last = (min(f.end, span.last) if span else f.end) if cut_by_range else (
        span.last if span else date.max)
    if span and span.last >= today():
        last = min(last, today() - timedelta(days=1))
    out = df.copy()
    flags = []
    for value in out[column]:
        start = pd.Timestamp(value).date()
        if grain == "month":
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        elif grain == "week":
            end = start + timedelta(days=6)
        else:
            end = start
        flags.append(start < first or end > last)
    out["partial"] = flags
    out["when"] = [period_label(v, grain) + (" (partial)" if p else "")
                   for v, p in zip(out[column], flags, strict=True)]
    return out


def waterfall(steps: list[tuple[str, Decimal]], currency: str) -> alt.Chart:
    """Gross, then each deduction, then the net: bars that float from one to the next, each
    with its amount written on it."""
    rows, level = [], Decimal(0)
    for number, (name, amount) in enumerate(steps):
        total = number in (0, len(steps) - 1)
        start, end = (Decimal(0), amount) if total else (level, level + amount)
        rows.append({"step": name, "order": number, "start": float(start),
                     "end": float(end), "top": float(max(start, end)),
                     "kind": "total" if total else "deduction",
                     "amount": money(amount, currency)})
        level = end
    data = pd.DataFrame(rows)
    base = alt.Chart(data).encode(
        x=alt.X("step:N", sort=None, title=None,
                axis=alt.Axis(labelAngle=0, labelLimit=220, labelFontSize=12)))
    bars = base.mark_bar(size=70).encode(
        y=alt.Y("start:Q", axis=money_axis(currency)), y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["total", "deduction"],
                                                  range=["#3c7dc4", "#d9822b"]), legend=None),
        tooltip=[alt.Tooltip("step:N", title="Step"), alt.Tooltip("amount:N", title="Amount")])
    labels = base.mark_text(dy=-8, fontSize=13, fontWeight="bold").encode(
        y=alt.Y("top:Q"), text="amount:N")
    return (bars + labels).properties(height=340)
