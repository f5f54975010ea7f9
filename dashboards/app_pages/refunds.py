import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

st.title("Refund rate")
f = ui.filters_or_stop()
st.info("**Refund rate** = refunds and partial refunds ÷ transactions approved at some point, "
        "by count, grouped by the order date. **Chargeback rate** = chargebacks lost ÷ the same "
        "approved transactions. **Amount rate** = amount refunded ÷ gross approved (offer "
        f"price), in {f.currency}.", icon=":material/info:")

by_platform = q.refund_rates_by(f, "platform")
if by_platform.empty:
    ui.no_data("approved transactions")
    st.stop()
approved = by_platform["approved_transactions"].sum()
cols = st.columns(3)
cols[0].metric("Refund rate", ui.pct(by_platform["refunds"].sum() / approved))
cols[1].metric("Chargeback rate", ui.pct(by_platform["chargebacks"].sum() / approved))
cols[2].metric("Amount refunded", ui.money(by_platform["refunded_amount"].sum(), f.currency))

rate_columns = ["refund_rate", "chargeback_rate", "refund_amount_rate"]
st.subheader("By product")
ui.show_table(q.refund_rates_by(f, "product"), ["refunded_amount"], rate_columns,
              f.currency, key="refunds_by_product")
st.subheader("By platform")
ui.show_table(by_platform, ["refunded_amount"], rate_columns, f.currency,
              key="refunds_by_platform")

st.subheader("By order month")
monthly = q.refund_rates_by(f, "month")
st.altair_chart(alt.Chart(ui.floats(monthly, "refund_rate", "chargeback_rate").melt(
    id_vars="month", value_vars=["refund_rate", "chargeback_rate"], var_name="rate",
    value_name="share")).mark_line(point=True).encode(
    x=alt.X("month:T", title=None), y=alt.Y("share:Q", axis=alt.Axis(format="%"), title=None),
    color=alt.Color("rate:N", title=None)).properties(height=260), width="stretch")

st.subheader("Within vs after warranty, direct refund vs gift-card voucher")
breakdown = q.refund_breakdown(f)
if breakdown.empty:
    ui.no_data("refunds")
else:
    st.altair_chart(alt.Chart(ui.floats(breakdown, "refunds")).mark_bar().encode(
        x=alt.X("sum(refunds):Q", title="refunds"), y=alt.Y("method:N", title=None),
        color=alt.Color("warranty:N", title=None), tooltip=["kind", "method", "warranty",
                                                             "refunds"]
    ).properties(height=200), width="stretch")
    ui.show_table(breakdown, ["refunded_amount"], currency=f.currency, key="refund_breakdown")
