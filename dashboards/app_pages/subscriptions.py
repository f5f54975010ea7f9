import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

st.title("Subscriptions")
f = ui.filters_or_stop()
monthly = q.subscriptions_monthly(f)
if monthly.empty:
    ui.no_data("subscriptions")
    st.stop()
last = monthly.iloc[-1]
cols = st.columns(4)
cols[0].metric("Active subscriptions", ui.integer(last["active_at_end"]),
               help=f"At the end of {last['month']:%m/%Y}.")
cols[1].metric("Monthly recurring amount", ui.money(last["monthly_recurring_amount"],
                                                    f.currency))
cols[2].metric("Churn rate (last month)", ui.pct(last["churn_rate"]))
cols[3].metric("Started in the period", ui.integer(monthly["started"].sum()))
st.caption(f"Subscriptions in {f.currency}. Churn rate = subscriptions cancelled in the month "
           "÷ active at its start. The product filter does not apply here (plans, not "
           "products).")

st.subheader("Active and monthly recurring amount")
chart = ui.floats(monthly, "active_at_end", "monthly_recurring_amount", "churn_rate")
st.altair_chart(alt.Chart(chart).mark_bar().encode(
    x=alt.X("month:T", title=None), y=alt.Y("active_at_end:Q", axis=ui.count_axis("active"))
).properties(height=240), width="stretch")
st.altair_chart(alt.Chart(chart).mark_line(point=True).encode(
    x=alt.X("month:T", title=None), y=alt.Y("churn_rate:Q", axis=alt.Axis(format="%"),
                                            title="churn rate")
).properties(height=200), width="stretch")

ui.show_table(monthly, ["monthly_recurring_amount"], ["churn_rate"], f.currency,
              key="subscriptions_monthly")
st.subheader("By plan (latest month)")
ui.show_table(q.subscriptions_by_plan(f), ["monthly_recurring_amount"], currency=f.currency,
              key="subscriptions_by_plan")
