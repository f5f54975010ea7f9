import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

st.title("Sales")
f = ui.filters_or_stop()
totals = q.sales_totals(f).iloc[0]
if not totals["approved_transactions"]:
    ui.no_data("approved sales")
    st.stop()

c = f.currency
gross, net, count = totals["gross_amount"], totals["net_amount"], totals["approved_transactions"]
# two figures a row: an amount in the millions is never cut off ("R$ 3.852.366…")
top, bottom = st.columns(2), st.columns(2)
top[0].metric("Gross revenue (offer price)", ui.money(gross, c))
top[1].metric("Producer net", ui.money(net, c))
bottom[0].metric("Approved transactions", ui.integer(count))
bottom[1].metric("Average ticket", ui.money(gross / count, c))
st.caption(f"Transactions approved at some point, ordered {f.start:%d/%m/%Y}–{f.end:%d/%m/%Y}, "
           f"in {c}.")

grain = st.segmented_control("Group by", list(q.GRAINS), default="Day", key="sales_grain")
trend = q.sales_trend(f, grain or "Day")
long = ui.floats(trend, "gross_amount", "net_amount").rename(
    columns={"gross_amount": "Gross", "net_amount": "Producer net"}).melt(
    id_vars="period", value_vars=["Gross", "Producer net"], var_name="figure",
    value_name="amount")
st.altair_chart(alt.Chart(long).mark_line(point=grain != "Day").encode(
    x=alt.X("period:T", title=None), y=alt.Y("amount:Q", axis=ui.money_axis(c)),
    color=alt.Color("figure:N", title=None)).properties(height=300), width="stretch")

st.subheader("From gross to the producer's net")
st.altair_chart(ui.waterfall([
    ("Gross (offer price)", gross),
    ("Platform fees", -totals["fee_amount"]),
    ("Partner commissions", -totals["commission_amount"]),
    ("Producer net", net),
], c), width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("By platform")
    ui.show_table(q.sales_by(f, "platform"), ["gross_amount", "net_amount", "average_ticket"],
                  currency=c, key="sales_by_platform")
with right:
    st.subheader("By product")
    ui.show_table(q.sales_by(f, "product"), ["gross_amount", "net_amount", "average_ticket"],
                  currency=c, key="sales_by_product")
