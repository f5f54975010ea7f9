import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

st.title("Payment methods")
f = ui.filters_or_stop()
methods = q.payment_methods(f)
if methods.empty:
    ui.no_data("transactions")
    st.stop()
methods["revenue_share"] = methods["gross_amount"] / methods["gross_amount"].sum()
methods["count_share"] = methods["approved_transactions"] / methods[
    "approved_transactions"].sum()
installment_share = methods["installment_transactions"].sum() / methods[
    "approved_transactions"].sum()

cols = st.columns(3)
cols[0].metric("Approval rate", ui.pct(methods["approved_transactions"].sum()
                                       / methods["transactions"].sum()))
cols[1].metric("Paid in installments", ui.pct(installment_share))
cols[2].metric("Methods used", len(methods))

left, right = st.columns(2)
chart = ui.floats(methods, "revenue_share", "count_share")
with left:
    st.subheader("Share of revenue")
    st.altair_chart(alt.Chart(chart).mark_arc(innerRadius=50).encode(
        theta="revenue_share:Q", color=alt.Color("payment_method:N", title=None),
        tooltip=["payment_method", alt.Tooltip("revenue_share:Q", format=".1%")]),
        width="stretch")
with right:
    st.subheader("Share of approved transactions")
    st.altair_chart(alt.Chart(chart).mark_arc(innerRadius=50).encode(
        theta="count_share:Q", color=alt.Color("payment_method:N", title=None),
        tooltip=["payment_method", alt.Tooltip("count_share:Q", format=".1%")]),
        width="stretch")

st.subheader("Per method")
ui.show_table(methods[["payment_method", "transactions", "approved_transactions",
                       "approval_rate", "gross_amount", "revenue_share", "count_share",
                       "installment_transactions"]],
              ["gross_amount"], ["approval_rate", "revenue_share", "count_share"], f.currency,
              key="payment_methods")

st.subheader("Installments")
plan = q.installments(f)
if plan.empty:
    ui.no_data("approved transactions")
else:
    st.altair_chart(alt.Chart(ui.floats(plan, "approved_transactions")).mark_bar().encode(
        x=alt.X("installments_number:O", title="installments"),
        y=alt.Y("approved_transactions:Q", axis=ui.count_axis("approved transactions")),
        color=alt.Color("payment_method:N", title=None)).properties(height=260),
        width="stretch")
