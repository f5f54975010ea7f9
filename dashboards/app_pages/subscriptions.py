import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

ui.page_header("Subscriptions")
f = ui.filters_or_stop()
monthly = q.subscriptions_monthly(f)
if monthly.empty:
    ui.no_data("subscriptions")
    st.stop()
monthly = ui.mark_partial(monthly, "month", "month", f, cut_by_range=False)
complete = monthly[~monthly["partial"]]
last = monthly.iloc[-1]
last_complete = complete.iloc[-1] if not complete.empty else last
before = complete.iloc[-2] if len(complete) > 1 else None
earlier = q.subscriptions_monthly(f.previous())
month_before = monthly.iloc[-2] if len(monthly) > 1 else None
cols = st.columns(4)
ui.kpi(cols[0], "Active subscriptions", last["active_at_end"],
       month_before["active_at_end"] if month_before is not None else None, "count")
ui.kpi(cols[1], "Monthly recurring amount", last["monthly_recurring_amount"],
       month_before["monthly_recurring_amount"] if month_before is not None else None,
       "money", f.currency)
ui.kpi(cols[2], f"Churn rate ({ui.format_month(last_complete['month'])})",
       last_complete["churn_rate"], before["churn_rate"] if before is not None else None,
       "rate", inverse=True)
ui.kpi(cols[3], "Started in the period", monthly["started"].sum(),
       earlier["started"].sum() if not earlier.empty else None, "count", f=f)
st.caption(f"Subscriptions in {f.currency}. **Churn rate** = subscriptions cancelled in the "
           "month ÷ subscriptions at risk in it (active at its start, plus those started in "
           "it). Every cancelled subscription is one of those at risk, so no month is above "
           "100 %; a month with few subscriptions at its start is no longer read as a surge. "
           "Active and recurring amount are at the end of "
           f"{ui.format_month(last['month'])}"
           + (" (not over yet)" if last["partial"] else "")
           + ", compared with the month before; churn is the last complete month's. "
           "The product filter does not apply here (plans, not products).")

st.subheader("Active at the end of the month")
chart = ui.floats(monthly, "active_at_end", "monthly_recurring_amount", "churn_rate")
chart["active"] = [ui.integer(v) for v in chart["active_at_end"]]
chart["churn"] = [ui.pct(v) for v in chart["churn_rate"]]
chart["at risk"] = [ui.integer(v) for v in chart["at_risk"]]
chart["cancelled"] = [ui.integer(v) for v in chart["churned"]]
st.altair_chart(alt.Chart(chart).mark_bar().encode(
    x=ui.month_bars_x("month"),
    y=alt.Y("active_at_end:Q", axis=ui.count_axis("active")),
    opacity=alt.condition("datum.partial", alt.value(0.45), alt.value(1.0)),
    tooltip=[alt.Tooltip("when:N", title="Month"), alt.Tooltip("active:N", title="Active")]
).properties(height=240), width="stretch")
st.subheader("Churn rate (cancelled ÷ at risk)")
base = alt.Chart(chart).encode(
    x=alt.X("month:T", axis=ui.date_axis("month")),
    y=alt.Y("churn_rate:Q", axis=ui.rate_axis("churn rate"),
            scale=alt.Scale(domain=[0, max(0.05, float(chart["churn_rate"].max() or 0))])),
    tooltip=[alt.Tooltip("when:N", title="Month"), alt.Tooltip("churn:N", title="Churn"),
             alt.Tooltip("cancelled:N", title="Cancelled"),
             alt.Tooltip("at risk:N", title="At risk")])
st.altair_chart((base.transform_filter("!datum.partial").mark_line(point=True)
                 + base.transform_filter("datum.partial").mark_point(filled=False, size=90))
                .properties(height=200), width="stretch")
if monthly["partial"].any():
    st.caption("Hollow points and pale bars: months not over, or cut by the dates chosen.")

ui.show_table(monthly[["month", "active_at_start", "started", "at_risk", "churned",
                       "active_at_end", "churn_rate", "monthly_recurring_amount"]],
              ["monthly_recurring_amount"], ["churn_rate"], f.currency,
              key="subscriptions_monthly", months=["month"],
              counts=["active_at_start", "started", "at_risk", "churned", "active_at_end"])
st.subheader("By plan (latest month)")
ui.show_table(q.subscriptions_by_plan(f), ["monthly_recurring_amount"], currency=f.currency,
              key="subscriptions_by_plan", codes=["platform"], counts=["active"])
