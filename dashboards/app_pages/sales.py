import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

ui.page_header("Sales")
f = ui.filters_or_stop()
totals = q.sales_totals(f).iloc[0]
if not totals["approved_transactions"]:
    ui.no_data("approved sales")
    st.stop()
before = q.sales_totals(f.previous()).iloc[0]

c = f.currency
gross, net, count = totals["gross_amount"], totals["net_amount"], totals["approved_transactions"]
# two figures a row: an amount in the millions is never cut off ("R$ 3.852.366…")
top, bottom = st.columns(2), st.columns(2)
ui.kpi(top[0], "Gross revenue (offer price)", gross, before["gross_amount"], "money", c, f)
ui.kpi(top[1], "Producer net", net, before["net_amount"], "money", c, f)
ui.kpi(bottom[0], "Approved transactions", count, before["approved_transactions"], "count",
       f=f)
ui.kpi(bottom[1], "Average ticket", gross / count,
       (before["gross_amount"] / before["approved_transactions"]
        if before["approved_transactions"] else None), "money", c, f)
first, last = f.previous().start, f.previous().end
st.caption(f"Transactions approved at some point, ordered {ui.format_date(f.start)}–"
           f"{ui.format_date(f.end)}, in {c}. Changes are against the "
           f"{(f.end - f.start).days + 1} days before ({ui.format_date(first)}–"
           f"{ui.format_date(last)}).")

grain = st.segmented_control("Group by", list(q.GRAINS), default="Day", key="sales_grain")
unit = q.GRAINS[grain or "Day"]
trend = ui.mark_partial(q.sales_trend(f, grain or "Day"), "period", unit, f)
long = ui.floats(trend, "gross_amount", "net_amount").rename(
    columns={"gross_amount": "Gross", "net_amount": "Producer net"}).melt(
    id_vars=["period", "partial", "when"], value_vars=["Gross", "Producer net"],
    var_name="figure", value_name="amount")
long["shown"] = [ui.money(v, c) for v in long["amount"]]
base = alt.Chart(long).encode(
    x=alt.X("period:T", axis=ui.date_axis(unit)),
    y=alt.Y("amount:Q", axis=ui.money_axis(c)),
    color=alt.Color("figure:N", title=None, legend=alt.Legend(orient="top")),
    tooltip=[alt.Tooltip("when:N", title="Period"), alt.Tooltip("figure:N", title="Figure"),
             alt.Tooltip("shown:N", title="Amount")])
complete = base.transform_filter("!datum.partial").mark_line(point=unit != "day")
partial = base.transform_filter("datum.partial").mark_point(filled=False, size=90,
                                                             strokeDash=[2, 2])
st.altair_chart((complete + partial).properties(height=300), width="stretch")
if trend["partial"].any():
    st.caption("Hollow points are partial periods (cut by the dates chosen, or still going "
               "on): they are not drawn as a drop. "
               + ", ".join(trend.loc[trend["partial"], "when"]) + ".")

st.subheader("From gross to the producer's net")
st.altair_chart(ui.waterfall([
    ("Gross (offer price)", gross),
    ("Platform fees", -totals["fee_amount"]),
    ("Partner commissions", -totals["commission_amount"]),
    ("Producer net", net),
], c), width="stretch")

columns = dict(money_columns=["gross_amount", "net_amount", "average_ticket"],
               counts=["approved_transactions"], currency=c)
st.subheader("By platform")
ui.show_table(q.sales_by(f, "platform"), key="sales_by_platform", codes=["platform"],
              **columns)
st.subheader("By product")
ui.show_table(q.sales_by(f, "product"), key="sales_by_product", **columns)
