"""Who may see the dashboards once signed in (TALLYHOUSE_DASHBOARD_ALLOWED, issue 23): the
allow-list's rules, the command that will not serve sign-in without one, and the app that
shows a signed-in stranger a refusal and a sign-out button, and runs no query for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import access

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
ALLOWED = "Ana@Example.com, ,@Tallyhouse.example,,"


def _user(email, **claims) -> dict:
    return {"is_logged_in": True, "email": email, **claims}


@pytest.mark.parametrize("email", [
    "ana@example.com", "ANA@EXAMPLE.COM",  # the exact address, any case
    "bruno@tallyhouse.example", "Carla@TALLYHOUSE.Example",  # anyone of the domain
])
def test_listed_addresses_and_domains_are_let_in(email):
    got = access.check(_user(email, email_verified=True), ALLOWED)
    assert got.allowed and got.reason == ""


@pytest.mark.parametrize("email", [
    "bia@example.com",  # the domain of a listed address is not listed
    "ana@example.com.evil.com",  # a listed domain as a prefix of another
    "ana@evilexample.com",
    "tallyhouse.example@evil.com",  # a listed domain as the local part
    "x@sub.tallyhouse.example",  # a sub-domain is another domain
    "x@tallyhouse.example.",
    "ana@example.com@evil.com", "evil.com@ana@example.com",  # two @
    "ana@example.com\n", " ana@example.com", "ana @example.com", "ana@exa mple.com",
    "@tallyhouse.example", "tallyhouse.example", "", None, 42,
])
def test_everyone_else_is_refused(email):
    got = access.check(_user(email), ALLOWED)
    assert not got.allowed and got.reason


def test_an_e_mail_the_provider_has_not_verified_is_refused():
    assert not access.check(_user("ana@example.com", email_verified=False), ALLOWED).allowed
    assert not access.check(_user("ana@example.com", email_verified="false"), ALLOWED).allowed
    assert "not verified" in access.check(_user("ana@example.com", email_verified=False),
                                          ALLOWED).reason
    # providers that do not send the claim (Microsoft Entra) rely on the list alone
    assert access.check(_user("ana@example.com"), ALLOWED).allowed
    assert access.check(_user("ana@example.com", email_verified="true"), ALLOWED).allowed


@pytest.mark.parametrize("listed", [None, "", " , ,"])
def test_no_list_lets_nobody_in(listed):
    got = access.check(_user("ana@example.com", email_verified=True), listed)
    assert not got.allowed and "No one is on the list" in got.reason


def test_the_list_is_parsed_strictly():
    assert access.parse(ALLOWED) == access.AllowList(frozenset({"ana@example.com"}),
                                                     frozenset({"tallyhouse.example"}))
    assert not access.parse(None) and not access.parse(" ,, ")
    for bad in ("example.com", "@", "a@", "@a@b.com", "ana@example.com; bia@example.com",
                "a b@example.com", "@.example.com", "*"):
        with pytest.raises(ValueError, match="TALLYHOUSE_DASHBOARD_ALLOWED"):
            access.parse(f"ok@example.com,{bad}")
    # a malformed list lets nobody in, not even who is listed well
    assert not access.check(_user("ok@example.com"), "ok@example.com,example.com").allowed


def test_the_command_will_not_serve_sign_in_without_a_list(monkeypatch):
    import tallyhouse_cli.main as cli

    monkeypatch.setattr(cli, "sign_in_configured", lambda folder=None: True)
    monkeypatch.delenv(access.ALLOWED_ENV, raising=False)
    for host in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(ValueError, match="TALLYHOUSE_DASHBOARD_ALLOWED is not set"):
            cli.dashboard_auth_mode(host, no_auth=False)
        with pytest.raises(ValueError, match="TALLYHOUSE_DASHBOARD_ALLOWED is not set"):
            cli.dashboard_auth_mode(host, no_auth=True)
    monkeypatch.setenv(access.ALLOWED_ENV, "ana@example.com,example.com")
    with pytest.raises(ValueError, match="'example.com'"):
        cli.dashboard_auth_mode("0.0.0.0", no_auth=False)
    monkeypatch.setenv(access.ALLOWED_ENV, ALLOWED)
    assert cli.dashboard_auth_mode("0.0.0.0", no_auth=False) == "oidc"


@pytest.fixture
def queries_seen(monkeypatch) -> list[str]:
    """Every call the app makes into dashboards.queries (none reaches a database): the
    warehouse says it is empty, anything else fails the page."""
    from dashboards import queries

    seen: list[str] = []

    def recorder(name, answer=None):
        def called(*args, **kwargs):
            seen.append(name)
            if answer is None:
                raise AssertionError(f"queries.{name} ran")
            return answer
        return called

    for name in ("read", "frame", "connection", "table_exists", "choices"):
        monkeypatch.setattr(queries, name, recorder(name))
    monkeypatch.setattr(queries, "warehouse_ready", recorder("warehouse_ready", answer=False))
    monkeypatch.setenv("TALLYHOUSE_DASHBOARD_AUTH", "oidc")
    monkeypatch.setenv(access.ALLOWED_ENV, ALLOWED)
    return seen


def _app(user: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = user
    return at.run()


def test_a_signed_in_stranger_sees_a_refusal_a_sign_out_button_and_no_data(queries_seen):
    at = _app(_user("mallory@evil.example", email_verified=True, name="Mallory"))
    assert not at.exception
    [refusal] = at.error
    assert refusal.body.startswith("mallory@evil.example is not allowed to see these "
                                   "dashboards."), refusal.body
    assert [b.label for b in at.button] == ["Sign out"]
    assert [t.value for t in at.title] == ["tallyhouse"]
    assert not at.sidebar.caption and not at.sidebar.selectbox and not at.sidebar.date_input
    assert not at.metric and not at.dataframe and not at.info
    assert queries_seen == [], "the gate runs before any query"

    at.button[0].click().run()  # sign out: back to the sign-in screen
    assert [b.label for b in at.button] == ["Sign in"] and not at.error
    assert queries_seen == []


def test_without_a_list_even_a_listed_looking_user_is_refused(queries_seen, monkeypatch):
    monkeypatch.delenv(access.ALLOWED_ENV)
    at = _app(_user("ana@example.com", email_verified=True))
    assert "not allowed" in at.error[0].body and "No one is on the list" in at.error[0].body
    assert queries_seen == []


def test_an_allowed_user_reaches_the_pages(queries_seen):
    at = _app(_user("bruno@tallyhouse.example", email_verified=True))
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Sales"]
    assert any("make run" in info.body for info in at.info)  # the empty warehouse's message
    assert "Signed in as bruno@tallyhouse.example" in [c.value for c in at.sidebar.caption]
    # past the gate: the pages ask whether the warehouse is built (the sidebar and the page
    # each ask), and ask nothing else of an empty warehouse
    assert queries_seen and set(queries_seen) == {"warehouse_ready"}
