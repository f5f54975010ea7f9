"""What each platform's sales API is asked, and how it is authenticated and paged.

Windows are business days (America/Sao_Paulo, the dbt var ``business_time_zone``) from
``--since`` to ``--until``, both included, cut into pieces the API accepts:

* **Hotmart** — windows of at most 30 days, in epoch milliseconds (first day 00:00 to last
  day 23:59:59.999). Every documented ``transaction_status`` is asked on its own for
  ``sales/history``, ``sales/commissions`` and ``sales/summary``: without that filter the API
  returns APPROVED and COMPLETE sales only, and refunds, chargebacks, disputes and
  cancellations would never arrive. Cursor paging (``max_results``, ``page_token``).
  OAuth2 client credentials (``Authorization: Basic``, the credentials in the query as
  Hotmart documents), token cached for its ``expires_in``.
* **Kiwify** — windows of at most 90 days: ``start_date`` / ``end_date`` (or, for the
  trailing re-sync, ``updated_at_start_date`` / ``updated_at_end_date``) as YYYY-MM-DD. The
  query of a window ends on the next window's first day, 89 days after its own first day:
  whether the API reads ``end_date`` as included or not, no day falls between two windows
  (a sale on the shared day comes twice, as the same bytes, and is landed once).
  ``view_full_sale_details=true`` (fee, net, revenue partners, affiliate commission), page
  number paging. OAuth2 client credentials, ``x-kiwify-account-id`` on every call.
* **Eduzz** — windows of 30 days (the API documents no limit; 30 keeps pages and retries
  small), ``startDate`` / ``endDate`` as ISO date-times at the window's first and last
  instant in the business time zone (the API types them as date-times). ``sales`` with every
  status (the list is not filtered by default); ``sales/summary`` per status. The bearer
  token from the Eduzz console.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tallyhouse.backfill.http import ApiClient, Authenticator, AuthError
from tallyhouse.backfill.secrets import Credentials

HOTMART_STATUSES = (
    "APPROVED", "BLOCKED", "CANCELLED", "CHARGEBACK", "COMPLETE", "EXPIRED", "NO_FUNDS",
    "OVERDUE", "PARTIALLY_REFUNDED", "PRE_ORDER", "PRINTED_BILLET", "PROCESSING_TRANSACTION",
    "PROTESTED", "REFUNDED", "STARTED", "UNDER_ANALISYS", "WAITING_PAYMENT",
)
EDUZZ_STATUSES = (
    "open", "processing", "paid", "canceled", "waiting_refund", "refunded", "duplicated",
    "expired", "recovering", "waiting_payment", "scheduled", "negotiated",
)
TOKEN_MARGIN = 60.0  # seconds before a token's end when a new one is fetched


@dataclass(frozen=True)
class Window:
    first_day: date
    last_day: date

    def __str__(self) -> str:
        return f"{self.first_day}..{self.last_day}"


@dataclass(frozen=True)
class Query:
    feed: str
    path: str
    list_key: str | None  # the list whose elements are the records; None: a summary
    window: Window
    filter: str  # the status asked, or the date basis ("created", "updated", "all")
    params: dict = field(hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.feed}|{self.window}|{self.filter}"


def windows(since: date, until: date, days: int) -> list[Window]:
    found, first = [], since
    while first <= until:
        last = min(first + timedelta(days=days - 1), until)
        found.append(Window(first, last))
        first = last + timedelta(days=1)
    return found


class Platform:
    name: str
    source: str  # landing folder
    window_days: int
    default_page_size: int
    default_rate: float  # requests per second
    cursor_paging = False

    def authenticator(self, credentials: Credentials) -> Authenticator:
        raise NotImplementedError

    def queries(self, spans: list[Window], mode: str, zone: ZoneInfo) -> list[Query]:
        raise NotImplementedError

    def url(self, credentials: Credentials, query: Query) -> str:
        return credentials.urls["api"] + query.path

    def page_params(self, query: Query, cursor, page_size: int) -> dict:
        raise NotImplementedError

    def first_cursor(self):
        return None

    def next_cursor(self, parsed: dict, records: int, cursor, page_size: int):
        raise NotImplementedError

    def cursor_rejected(self, status: int, error: str | None, text: str) -> bool:
        """A resumed cursor the API no longer accepts: the query starts over."""
        return False


def _epoch_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), zone).timestamp() * 1000)


# ------------------------------------------------------------------------------ Hotmart

class _HotmartAuth(Authenticator):
    def __init__(self, credentials: Credentials):
        self.credentials = credentials
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetched = 0

    def headers(self, client: ApiClient) -> dict[str, str]:
        if self.token is None or client.clock() >= self.expires_at:
            self._fetch(client)
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> None:
        self.token = None

    def _fetch(self, client: ApiClient) -> None:
        cid, secret = self.credentials["client_id"], self.credentials["client_secret"]
        basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        client.redactor.add(basic)
        answer = client.send(
            "POST", self.credentials.urls["auth"] + "/security/oauth/token",
            params={"grant_type": "client_credentials", "client_id": cid,
                    "client_secret": secret},
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"},
            what="hotmart POST /security/oauth/token", authenticated=False)
        _take_token(self, client, answer, "hotmart", default_lifetime=86400)


def _take_token(auth, client: ApiClient, answer, platform: str, default_lifetime: float):
    if not answer.ok:
        code, text = answer.error_fields()
        raise AuthError(client.redactor.redact(
            f"{platform} refused the client credentials: HTTP {answer.status} "
            f"{code or ''} {text}".strip()), answer.status, code) from None
    data = answer.json()
    token = data.get("access_token") if isinstance(data, dict) else None
    if not token:
        raise AuthError(f"{platform}: the token answer has no access_token", answer.status)
    client.redactor.add(token)
    auth.token = token
    try:
        lifetime = float(data.get("expires_in") or default_lifetime)
    except (TypeError, ValueError):
        lifetime = default_lifetime
    auth.expires_at = client.clock() + max(lifetime - TOKEN_MARGIN, 1.0)
    auth.fetched += 1


class Hotmart(Platform):
    name = source = "hotmart"
    window_days = 30
    default_page_size = 100
    default_rate = 6.0  # Hotmart allows 500 calls a minute per account; leave some room
    cursor_paging = True
    ENDPOINTS = (
        ("hotmart_sales_history", "/payments/api/v1/sales/history", "items"),
        ("hotmart_sales_commissions", "/payments/api/v1/sales/commissions", "items"),
        ("hotmart_sales_summary", "/payments/api/v1/sales/summary", None),
    )

    def authenticator(self, credentials: Credentials) -> Authenticator:
        return _HotmartAuth(credentials)

    def queries(self, spans: list[Window], mode: str, zone: ZoneInfo) -> list[Query]:
        found = []
        for window in spans:
            dates = {"start_date": _epoch_ms(window.first_day, zone),
                     "end_date": _epoch_ms(window.last_day + timedelta(days=1), zone) - 1}
            for feed, path, list_key in self.ENDPOINTS:
                for status in HOTMART_STATUSES:
                    found.append(Query(feed, path, list_key, window, status,
                                       {**dates, "transaction_status": status}))
        return found

    def page_params(self, query: Query, cursor, page_size: int) -> dict:
        params = {**query.params, "max_results": page_size}
        if cursor:
            params["page_token"] = cursor
        return params

    def next_cursor(self, parsed: dict, records: int, cursor, page_size: int):
        info = parsed.get("page_info") if isinstance(parsed, dict) else None
        token = info.get("next_page_token") if isinstance(info, dict) else None
        return token or None

    def cursor_rejected(self, status: int, error: str | None, text: str) -> bool:
        return status == 400 and ("page_token" in text or error == "invalid_token")


# ------------------------------------------------------------------------------ Kiwify

class _KiwifyAuth(Authenticator):
    def __init__(self, credentials: Credentials):
        self.credentials = credentials
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetched = 0

    def headers(self, client: ApiClient) -> dict[str, str]:
        if self.token is None or client.clock() >= self.expires_at:
            answer = client.send(
                "POST", self.credentials.urls["api"] + "/v1/oauth/token",
                data={"client_id": self.credentials["client_id"],
                      "client_secret": self.credentials["client_secret"]},
                what="kiwify POST /v1/oauth/token", authenticated=False)
            _take_token(self, client, answer, "kiwify", default_lifetime=96 * 3600)
        return {"Authorization": f"Bearer {self.token}",
                "x-kiwify-account-id": self.credentials["account_id"]}

    def invalidate(self) -> None:
        self.token = None


class Kiwify(Platform):
    name = source = "kiwify"
    window_days = 89  # the query runs to the next window's first day: 89 days apart
    default_page_size = 100
    default_rate = 2.0

    def authenticator(self, credentials: Credentials) -> Authenticator:
        return _KiwifyAuth(credentials)

    def queries(self, spans: list[Window], mode: str, zone: ZoneInfo) -> list[Query]:
        basis = "updated" if mode == "resync" else "created"
        prefix = "updated_at_" if basis == "updated" else ""
        found = []
        for window in spans:
            end = window.last_day + timedelta(days=1)
            found.append(Query("kiwify_sales", "/v1/sales", "data", window, basis, {
                f"{prefix}start_date": window.first_day.isoformat(),
                f"{prefix}end_date": end.isoformat(),
                "view_full_sale_details": "true"}))
        return found

    def page_params(self, query: Query, cursor, page_size: int) -> dict:
        return {**query.params, "page_size": page_size, "page_number": cursor or 1}

    def first_cursor(self):
        return 1

    def next_cursor(self, parsed: dict, records: int, cursor, page_size: int):
        """The next page number, or None after the last page. The page size is the one the
        answer states (a platform may serve fewer than asked); a ``count`` above it is the
        total, else a full page means there may be more."""
        page = cursor or 1
        paging = parsed.get("pagination") if isinstance(parsed, dict) else None
        paging = paging if isinstance(paging, dict) else {}
        size = _positive_int(paging.get("page_size")) or page_size
        count = _positive_int(paging.get("count"))
        if not records:
            return None
        if count and count > size:
            return page + 1 if page * size < count else None
        return page + 1 if records >= size else None


def _positive_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# ------------------------------------------------------------------------------ Eduzz

class _StaticBearer(Authenticator):
    def __init__(self, token: str):
        self.token = token

    def headers(self, client: ApiClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Eduzz(Platform):
    name = source = "eduzz"
    window_days = 30
    default_page_size = 100
    default_rate = 0.5  # Eduzz is reported to allow 30 calls a minute on most endpoints

    def authenticator(self, credentials: Credentials) -> Authenticator:
        return _StaticBearer(credentials["api_token"])

    def queries(self, spans: list[Window], mode: str, zone: ZoneInfo) -> list[Query]:
        found = []
        for window in spans:
            first = datetime.combine(window.first_day, time(0), zone)
            last = datetime.combine(window.last_day, time(23, 59, 59, 999000), zone)
            dates = {"startDate": first.isoformat(timespec="milliseconds"),
                     "endDate": last.isoformat(timespec="milliseconds")}
            found.append(Query("eduzz_sales", "/myeduzz/v1/sales", "items", window, "all",
                               dict(dates)))
            for status in EDUZZ_STATUSES:
                found.append(Query("eduzz_sales_summary", "/myeduzz/v1/sales/summary", None,
                                   window, status, {**dates, "status": status}))
        return found

    def page_params(self, query: Query, cursor, page_size: int) -> dict:
        if query.list_key is None:
            return dict(query.params)
        return {**query.params, "page": cursor or 1, "itemsPerPage": page_size}

    def first_cursor(self):
        return 1

    def next_cursor(self, parsed: dict, records: int, cursor, page_size: int):
        if not isinstance(parsed, dict) or "items" not in parsed:
            return None  # a summary: one answer
        page = cursor or 1
        if not records:
            return None
        pages = _positive_int(parsed.get("pages") or parsed.get("totalPages"))
        if pages:
            return page + 1 if page < pages else None
        size = _positive_int(parsed.get("itemsPerPage")) or page_size
        return page + 1 if records >= size else None


PLATFORMS: dict[str, Platform] = {p.name: p for p in (Hotmart(), Kiwify(), Eduzz())}
