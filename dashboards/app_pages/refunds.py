from datetime import timedelta

import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

ui.page_header("Refund rate")
f = ui.filters_or_stop()
st.info("**Refund rate** = refunds and partial refunds ÷ transactions approved at some point, "
        "by count, grouped by the order date. **Chargeback rate** = chargebacks lost ÷ the same "
        "approved transactions. **Amount rate** = amount refunded ÷ gross approved (offer "
        f"price), in {f.currency}. A month whose sales are still inside the guarantee "
        f"({ui.GUARANTEE_DAYS} days, the longest the platforms allow) is **immature**: its "
        "refunds have not all happened yet, so its rate is still going up.",
        icon=":material/info:")

by_platform = q.refund_rates_by(f, "platform")
if by_platform.empty:
    ui.no_data("approved transactions")
    st.stop()
earlier = q.refund_rates_by(f.previous(), "platform")


def rates(frame):
    approved = frame["approved_transactions"].sum()
    if not approved:
        return None, None, None
    return (frame["refunds"].sum() / approved, frame["chargebacks"].sum() / approved,
            frame["refunded_amount"].sum())


now, before = rates(by_platform), rates(earlier)
cols = st.columns(3)
ui.kpi(cols[0], "Refund rate", now[0], before[0], "rate", f=f, inverse=True)
ui.kpi(cols[1], "Chargeback rate", now[1], before[1], "rate", f=f, inverse=True)
ui.kpi(cols[2], "Amount refunded", now[2], before[2], "money", f.currency, f, inverse=True)

rate_columns = ["refund_rate", "chargeback_rate", "refund_amount_rate"]
counts = ["approved_transactions", "refunds", "chargebacks"]
st.subheader("By product")
ui.show_table(q.refund_rates_by(f, "product"), ["refunded_amount"], rate_columns,
              f.currency, key="refunds_by_product", counts=counts)
st.subheader("By platform")
ui.show_table(by_platform, ["refunded_amount"], rate_columns, f.currency,
              key="refunds_by_platform", counts=counts, codes=["platform"])

st.subheader("By order month")
monthly = ui.mark_partial(q.refund_rates_by(f, "month"), "month", "month", f)
span = st.session_state.get(ui.PERIOD_KEY)
data_end = span.last if span else f.end
# a month is immature while its last day's sales are inside the guarantee
monthly["immature"] = [
    (m.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    + timedelta(days=ui.GUARANTEE_DAYS) > data_end for m in monthly["month"]]
long = ui.floats(monthly, "refund_rate", "chargeback_rate").melt(
    id_vars=["month", "immature", "when"], value_vars=["refund_rate", "chargeback_rate"],
    var_name="rate", value_name="share")
long["rate"] = [ui.words(r) for r in long["rate"]]
long["shown"] = [ui.pct(v) for v in long["share"]]
long["maturity"] = ["immature: refunds still to come" if i else "mature"
                    for i in long["immature"]]
base = alt.Chart(long).encode(
    x=alt.X("month:T", axis=ui.date_axis("month")),
    y=alt.Y("share:Q", axis=ui.rate_axis(), scale=alt.Scale(domainMin=0)),
    color=alt.Color("rate:N", title=None, legend=alt.Legend(orient="top")),
    tooltip=[alt.Tooltip("when:N", title="Order month"), alt.Tooltip("rate:N", title="Rate"),
             alt.Tooltip("shown:N", title="Value"), alt.Tooltip("maturity:N", title="")])
line = base.transform_filter("!datum.immature").mark_line(point=True)
immature = base.transform_filter("datum.immature").mark_point(filled=False, size=90)
st.altair_chart((line + immature).properties(height=260), width="stretch")
if monthly["immature"].any():
    st.caption("Hollow points: immature months ("
               + ", ".join(ui.format_month(m) for m in monthly.loc[monthly["immature"], "month"])
               + "), whose sales are still inside the guarantee — their refund rate will "
               "rise; do not read them as a falling trend.")

st.subheader("Within vs after warranty, direct refund vs gift-card voucher")
breakdown = q.refund_breakdown(f)
if breakdown.empty:
    ui.no_data("refunds")
else:
    chart = ui.floats(breakdown, "refunds")
    chart["method"] = [ui.words(v) for v in chart["method"]]
    chart["kind"] = [ui.words(v) for v in chart["kind"]]
    st.altair_chart(alt.Chart(chart).mark_bar().encode(
        x=alt.X("sum(refunds):Q", axis=ui.count_axis("refunds")),
        y=alt.Y("method:N", title=None, axis=alt.Axis(labelLimit=240)),
        color=alt.Color("warranty:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("kind:N", title="Kind"), alt.Tooltip("method:N", title="Method"),
                 alt.Tooltip("warranty:N", title="Warranty"),
                 alt.Tooltip("refunds:Q", title="Refunds")]
    ).properties(height=200), width="stretch")
    ui.show_table(breakdown, ["refunded_amount"], currency=f.currency, key="refund_breakdown",
                  counts=["refunds"], codes=["kind", "method"])
