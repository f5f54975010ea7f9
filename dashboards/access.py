"""Who may see the dashboards once signed in: ``TALLYHOUSE_DASHBOARD_ALLOWED``.

A comma-separated list of e-mail addresses (``ana@example.com``) and whole domains
(``@example.com``), case-insensitive. A domain entry admits that domain only, not its
sub-domains. With sign-in on and no list (or a malformed one) nobody is admitted: the gate
fails closed, and ``tallyhouse dashboard`` refuses to start that way.

Pure functions, no Streamlit: ``dashboards/app.py`` asks ``check`` about ``st.user`` before
any query runs, and ``tallyhouse dashboard`` checks the list before serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALLOWED_ENV = "TALLYHOUSE_DASHBOARD_ALLOWED"


@dataclass(frozen=True)
class AllowList:
    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.emails or self.domains)


@dataclass(frozen=True)
class Access:
    allowed: bool
    email: str | None  # as the provider gave it, for the message
    reason: str  # why not, in a sentence for the person refused ("" when allowed)


def _address(text: str) -> tuple[str, str] | None:
    """(local part, domain) of a plain address, lower-cased; None for anything else (no or
    several @, an empty side, spaces or control characters)."""
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    local, at, domain = text.lower().partition("@")
    if not at or not local or not domain or "@" in domain or domain.startswith(".") \
            or domain.endswith(".") or ".." in domain:
        return None
    return local, domain


def parse(text: str | None) -> AllowList:
    """The allow-list from the variable's text. Empty entries (``a@x.com,,``) are skipped;
    an entry that is neither an address nor ``@domain`` raises ValueError naming it."""
    emails, domains, bad = set(), set(), []
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.startswith("@"):
            parsed = _address("x" + entry)
            if parsed:
                domains.add(parsed[1])
            else:
                bad.append(entry)
        elif parsed := _address(entry):
            emails.add("@".join(parsed))
        else:
            bad.append(entry)
    if bad:
        raise ValueError(f"{ALLOWED_ENV} has entries that are neither an e-mail address nor "
                         f"@domain: {', '.join(repr(b) for b in bad)} (separate entries "
                         "with commas)")
    return AllowList(frozenset(emails), frozenset(domains))


def _unverified(flag) -> bool:
    """The provider says the e-mail is not verified (false, or "false" as some send it)."""
    return flag is False or (isinstance(flag, str) and flag.strip().lower() == "false")


def check(user: Mapping, allowed_text: str | None) -> Access:
    """May this signed-in user (``st.user``'s claims) see the dashboards under the allow-list
    ``allowed_text`` (the variable's value)? Anything unclear is a no: no list, a malformed
    list, no e-mail claim, an e-mail the provider says it has not verified."""
    email = user.get("email")
    shown = email if isinstance(email, str) else None
    try:
        allow = parse(allowed_text)
    except ValueError:
        return Access(False, shown, "The list of who may see these dashboards is malformed.")
    if not allow:
        return Access(False, shown, "No one is on the list of who may see these dashboards "
                                    "yet.")
    address = _address(email) if isinstance(email, str) else None
    if address is None:
        return Access(False, shown, "Your sign-in did not give an e-mail address.")
    if _unverified(user.get("email_verified")):
        return Access(False, shown, "Your provider has not verified this e-mail address.")
    local, domain = address
    if f"{local}@{domain}" in allow.emails or domain in allow.domains:
        return Access(True, shown, "")
    return Access(False, shown, "This account is not on the list of who may see these "
                                "dashboards.")
