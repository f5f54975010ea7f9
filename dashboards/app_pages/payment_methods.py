import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

ui.page_header("Payment methods")
f = ui.filters_or_stop()
methods = q.payment_methods(f)
if methods.empty:
    ui.no_data("transactions")
    st.stop()
earlier = q.payment_methods(f.previous())
methods["revenue_share"] = methods["gross_amount"] / methods["gross_amount"].sum()
methods["count_share"] = methods["approved_transactions"] / methods[
    "approved_transactions"].sum()


def shares(frame):
    if frame.empty or not frame["transactions"].sum():
        return None, None
    approved = frame["approved_transactions"].sum()
    return (approved / frame["transactions"].sum(),
            frame["installment_transactions"].sum() / approved if approved else None)


now, before = shares(methods), shares(earlier)
cols = st.columns(3)
ui.kpi(cols[0], "Approval rate", now[0], before[0], "rate", f=f)
ui.kpi(cols[1], "Paid in installments", now[1], before[1], "rate", f=f)
ui.kpi(cols[2], "Methods used", len(methods), len(earlier), "count", f=f)

left, right = st.columns(2)
chart = ui.floats(methods, "revenue_share", "count_share")
chart["method"] = [ui.words(m) for m in chart["payment_method"]]
chart["revenue"] = [ui.pct(v) for v in chart["revenue_share"]]
chart["count"] = [ui.pct(v) for v in chart["count_share"]]
with left:
    st.subheader("Share of revenue")
    st.altair_chart(alt.Chart(chart).mark_arc(innerRadius=50).encode(
        theta="revenue_share:Q", color=alt.Color("method:N", title=None),
        tooltip=[alt.Tooltip("method:N", title="Method"),
                 alt.Tooltip("revenue:N", title="Share of revenue")]), width="stretch")
with right:
    st.subheader("Share of approved transactions")
    st.altair_chart(alt.Chart(chart).mark_arc(innerRadius=50).encode(
        theta="count_share:Q", color=alt.Color("method:N", title=None),
        tooltip=[alt.Tooltip("method:N", title="Method"),
                 alt.Tooltip("count:N", title="Share of transactions")]), width="stretch")

st.subheader("Per method")
ui.show_table(methods[["payment_method", "transactions", "approved_transactions",
                       "approval_rate", "gross_amount", "revenue_share", "count_share",
                       "installment_transactions"]],
              ["gross_amount"], ["approval_rate", "revenue_share", "count_share"], f.currency,
              key="payment_methods", codes=["payment_method"],
              counts=["transactions", "approved_transactions", "installment_transactions"])

st.subheader("Installments")
plan = q.installments(f)
if plan.empty:
    ui.no_data("approved transactions")
else:
    single = plan.loc[plan["installments_number"] <= 1, "approved_transactions"].sum()
    split = plan.loc[plan["installments_number"] > 1].copy()
    total = plan["approved_transactions"].sum()
    st.caption(f"Paid at once (1×): {ui.integer(single)} approved transactions "
               f"({ui.pct(single / total if total else None)}), left out of the chart so that "
               "the installment plans can be compared.")
    if split.empty:
        st.write("No sale in installments in this selection.")
    else:
        split = ui.floats(split, "approved_transactions")
        split["method"] = [ui.words(m) for m in split["payment_method"]]
        split["plan"] = [f"{int(n)}×" for n in split["installments_number"]]
        st.altair_chart(alt.Chart(split).mark_bar().encode(
            x=alt.X("plan:N", title="installments",
                    sort=alt.EncodingSortField("installments_number"),
                    axis=alt.Axis(labelAngle=0)),
            y=alt.Y("approved_transactions:Q", axis=ui.count_axis("approved transactions")),
            color=alt.Color("method:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("plan:N", title="Installments"),
                     alt.Tooltip("method:N", title="Method"),
                     alt.Tooltip("approved_transactions:Q", title="Approved", format=",d")]
        ).properties(height=260), width="stretch")
