"""tallyhouse dashboards: ``make dashboard`` (or ``tallyhouse dashboard``) serves them."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards import access, queries, ui  # noqa: E402

PAGES = Path(__file__).resolve().parent / "app_pages"

st.set_page_config(page_title="tallyhouse", page_icon=":material/account_balance:",
                   layout="wide")
# Sign-in and the allow-list come before the pages and before any query: a visitor who is
# not admitted sees no page name and no figure.
_auth = os.environ.get("TALLYHOUSE_DASHBOARD_AUTH", "off")
if _auth == "oidc":
    if not st.user.is_logged_in:
        st.title("tallyhouse")
        st.write("Sign in to see the finance dashboards.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    _access = access.check(st.user.to_dict(), os.environ.get(access.ALLOWED_ENV))
    if not _access.allowed:
        st.title("tallyhouse")
        st.error(f"{_access.email or 'This account'} is not allowed to see these dashboards. "
                 f"{_access.reason} Ask whoever runs them to add you, or sign out and sign "
                 "in with another account.", icon=":material/block:")
        st.button("Sign out", on_click=st.logout, type="primary")
        st.stop()
    st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name')}")
    st.sidebar.button("Sign out", on_click=st.logout)
elif _auth == "open":
    st.warning("Served beyond this machine without sign-in (--no-auth): anyone who can reach "
               "this address sees these figures.", icon=":material/lock_open:")
_problem = queries.engine_problem()
if _problem:
    st.title("tallyhouse")
    st.error(f"The warehouse cannot be read: {_problem}", icon=":material/error:")
    st.stop()
navigation = st.navigation([
    st.Page(PAGES / "sales.py", title="Sales", icon=":material/payments:", default=True),
    st.Page(PAGES / "refunds.py", title="Refund rate", icon=":material/undo:"),
    st.Page(PAGES / "payment_methods.py", title="Payment methods",
            icon=":material/credit_card:"),
    st.Page(PAGES / "reconciliation.py", title="Reconciliation", icon=":material/balance:"),
    st.Page(PAGES / "subscriptions.py", title="Subscriptions", icon=":material/autorenew:"),
    st.Page(PAGES / "loyalty.py", title="Loyalty & gift cards", icon=":material/redeem:"),
])
ui.sidebar_filters()
navigation.run()
