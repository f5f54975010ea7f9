import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui

ui.page_header("Loyalty & gift cards")
f = ui.filters_or_stop()

st.subheader("Points liability")
liability = q.points_liability().iloc[0]
if not liability["accounts"]:
    st.info("No points account yet.")
else:
    cols = st.columns(4)
    cols[0].metric("Accounts", ui.integer(liability["accounts"]))
    cols[1].metric("Points balance", ui.integer(liability["balance_points"]))
    cols[2].metric("Held by open authorizations", ui.integer(liability["open_hold_points"]))
    cols[3].metric("Available to redeem", ui.integer(liability["available_points"]))
    accounts = q.points_accounts()
    accounts["last_entry_at"] = [ui.local_time(t) if t is not None else "—"
                                 for t in accounts["last_entry_at"]]
    ui.show_table(accounts.rename(columns={"account_id": "account",
                                           "last_entry_at": "last entry"}),
                  key="points_accounts",
                  counts=["balance_points", "open_hold_points", "available_points",
                          "credited_points", "debited_points"])

st.subheader("Redemptions")
orders = q.redemptions(f)
if orders.empty:
    ui.no_data("redemption orders")
else:
    chart = ui.floats(orders, "points")
    chart["status"] = [ui.words(s) for s in chart["order_status"]]
    chart["shown"] = [ui.integer(v) for v in chart["points"]]
    st.altair_chart(alt.Chart(chart).mark_bar().encode(
        x=ui.month_bars_x("month"),
        y=alt.Y("points:Q", axis=ui.count_axis("points")),
        color=alt.Color("status:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("status:N", title="Status"),
                 alt.Tooltip("shown:N", title="Points")]).properties(height=240),
        width="stretch")
    ui.show_table(orders, key="redemptions", months=["month"], codes=["order_status"],
                  counts=["orders", "points"])

st.subheader(f"Gift cards ({f.currency})")
cards = q.gift_cards(f).iloc[0]
if not cards["cards"]:
    st.info(f"No gift card in {f.currency}.")
else:
    top, bottom = st.columns(2), st.columns(2)
    top[0].metric("Outstanding balance", ui.money(cards["balance_amount"], f.currency))
    top[1].metric("Credited (incl. refund vouchers)", ui.money(cards["credited_amount"],
                                                               f.currency))
    bottom[0].metric("Cards", ui.integer(cards["cards"]))
    bottom[1].metric("Refund vouchers", ui.integer(cards["voucher_credits"]))
