"""Hotmart's OAuth and sales API on loopback, built from the published examples
(tests/fixtures/reference_payloads/hotmart/api/): the token answer, the sales history,
commissions and summary items, ``page_info`` and the error body.

Behaves as the documentation says: the token call wants ``Authorization: Basic
base64(id:secret)`` and the credentials in the query; the sales calls want the bearer
token of the latest token call (:meth:`expire_tokens` makes the current one invalid: 401
``invalid_token``); without ``transaction_status`` only APPROVED and COMPLETE sales come
back; a period over 30 days is refused (400); cursor paging with ``max_results`` and a
``page_token`` (``next_page_token`` in ``page_info``); ``RateLimit-*`` headers on every
answer.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from standins.base import Answer, Seen, StandIn, compact, reference

DEFAULT_STATUSES = ("APPROVED", "COMPLETE")
MAX_PERIOD_MS = 30 * 24 * 3600 * 1000
STATUS_MIX = (("APPROVED", 40), ("COMPLETE", 28), ("REFUNDED", 8), ("CHARGEBACK", 3),
              ("PROTESTED", 2), ("CANCELLED", 7), ("PRINTED_BILLET", 5),
              ("WAITING_PAYMENT", 3), ("EXPIRED", 2), ("PARTIALLY_REFUNDED", 2))
CURRENCIES = (("BRL", 85), ("USD", 10), ("EUR", 5))


@dataclass
class Sale:
    transaction: str
    order_date: int  # epoch ms
    status: str
    currency: str
    price: float
    fee: float
    history: bytes = b""
    commissions: bytes = b""


class HotmartStandIn(StandIn):
    def __init__(self, client_id: str, client_secret: str, sales: int = 200,
                 start: datetime = datetime(2026, 1, 1, 3, tzinfo=UTC), days: int = 120,
                 seed: int = 25):
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens_issued: list[str] = []
        self.valid_token: str | None = None
        self.quota = 1_000_000
        self._history_template = reference("hotmart", "sales-history.official-doc.json")[
            "items"][0]
        self._commission_template = reference(
            "hotmart", "sales-commissions.official-doc.json")["items"][0]
        self._token_template = reference("hotmart", "oauth-token.official-doc.json")
        self._error_template = reference("hotmart", "error-body.official-doc.json")
        rng = random.Random(seed)
        self.sales: list[Sale] = []
        span_ms = days * 24 * 3600 * 1000
        start_ms = int(start.timestamp() * 1000)
        for n in range(sales):
            status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
            currency = rng.choices([c for c, _ in CURRENCIES], [w for _, w in CURRENCIES])[0]
            price = round(rng.choice((97.0, 197.0, 297.0, 49.9, 1997.0)), 2)
            sale = Sale(f"HP{17000000000000 + n * 7919:014d}",
                        start_ms + rng.randrange(span_ms), status, currency, price,
                        round(price * 0.099 + 1, 2))
            self._render(sale)
            self.sales.append(sale)

    # ------------------------------------------------------------------ data

    def _render(self, sale: Sale) -> None:
        item = copy.deepcopy(self._history_template)
        purchase = item["purchase"]
        purchase["transaction"] = sale.transaction
        purchase["order_date"] = sale.order_date
        purchase["approved_date"] = sale.order_date + 60_000
        purchase["status"] = sale.status
        purchase["price"] = {"value": sale.price, "currency_code": sale.currency}
        purchase["hotmart_fee"] = {**purchase["hotmart_fee"], "total": sale.fee,
                                   "currency_code": sale.currency}
        purchase["warranty_expire_date"] = sale.order_date + 7 * 86_400_000
        item["buyer"] = {**item["buyer"], "email": f"buyer{sale.transaction[-6:]}@example.com"}
        sale.history = compact(item)
        commission = copy.deepcopy(self._commission_template)
        commission["transaction"] = sale.transaction
        net = round(sale.price - sale.fee, 2)
        commission["commissions"] = [
            {**commission["commissions"][0],
             "commission": {"currency_value": sale.currency, "value": net}},
        ]
        sale.commissions = compact(commission)

    def set_status(self, transaction: str, status: str) -> None:
        for sale in self.sales:
            if sale.transaction == transaction:
                sale.status = status
                self._render(sale)
                return
        raise KeyError(transaction)

    def expire_tokens(self) -> None:
        """The token in use stops being valid (as after 24 h): the next call gets 401."""
        self.valid_token = None

    # ------------------------------------------------------------------ HTTP

    def extra_headers(self) -> dict[str, str]:
        self.quota = max(self.quota - 1, 1)
        return {"RateLimit-Limit": "500", "RateLimit-Remaining": str(self.quota),
                "RateLimit-Reset": "60"}

    def handle(self, seen: Seen) -> tuple[int, dict, bytes]:
        if seen.method == "POST" and seen.path == "/security/oauth/token":
            return self._token(seen)
        if seen.method == "GET" and seen.path.startswith("/payments/api/v1/sales/"):
            self._authorize(seen)
            kind = seen.path.rsplit("/", 1)[-1]
            if kind not in ("history", "commissions", "summary"):
                raise Answer(404, {"error": "not_found"})
            return self._sales(seen, kind)
        raise Answer(404, {"error": "not_found", "error_description": "no such path"})

    def _token(self, seen: Seen):
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if (seen.headers.get("authorization") != f"Basic {expected}"
                or seen.query.get("grant_type") != "client_credentials"
                or seen.query.get("client_id") != self.client_id
                or seen.query.get("client_secret") != self.client_secret):
            raise Answer(401, {"error": "invalid_client",
                               "error_description": "Bad client credentials"})
        token = f"eyJhbGci.standin.{len(self.tokens_issued) + 1}"
        self.tokens_issued.append(token)
        self.valid_token = token
        return 200, {}, compact({**self._token_template, "access_token": token})

    def _authorize(self, seen: Seen) -> None:
        header = seen.headers.get("authorization", "")
        if not self.valid_token or header != f"Bearer {self.valid_token}":
            raise Answer(401, {**self._error_template, "error": "invalid_token",
                               "error_description": "Invalid access token"})

    def _sales(self, seen: Seen, kind: str):
        query = seen.query
        try:
            start = int(query.get("start_date", 0))
            end = int(query.get("end_date", 2**62))
        except ValueError:
            raise Answer(400, {"error": "invalid_value_parameter"}) from None
        if "start_date" in query and "end_date" in query and end - start > MAX_PERIOD_MS:
            raise Answer(400, {"error": "invalid_parameter",
                               "error_description": "The period between start_date and "
                                                    "end_date must be at most 30 days"})
        status = query.get("transaction_status")
        statuses = (status,) if status else DEFAULT_STATUSES
        chosen = sorted((s for s in self.sales
                         if start <= s.order_date <= end and s.status in statuses),
                        key=lambda s: (s.order_date, s.transaction))
        if kind == "summary":
            totals: dict[str, list] = {}
            for sale in chosen:
                entry = totals.setdefault(sale.currency, [0, 0.0])
                entry[0] += 1
                entry[1] = round(entry[1] + sale.price, 2)
            items = [compact({"total_items": n, "total_value": {"value": value,
                                                                "currency_code": currency}})
                     for currency, (n, value) in sorted(totals.items())]
        else:
            items = [s.history if kind == "history" else s.commissions for s in chosen]
        size = int(query.get("max_results") or 10)
        page = 1
        if query.get("page_token"):
            try:
                page = json.loads(base64.b64decode(query["page_token"]))["page"]
            except Exception:
                raise Answer(400, self._error_template) from None
        slice_ = items[(page - 1) * size: page * size]
        info = {"total_results": len(items), "results_per_page": size}
        if page * size < len(items):
            info["next_page_token"] = base64.b64encode(
                compact({"rows": size, "page": page + 1})).decode()
        if page > 1:
            info["prev_page_token"] = base64.b64encode(
                compact({"rows": size, "page": page - 1})).decode()
        body = b'{"items":[' + b",".join(slice_) + b'],"page_info":' + compact(info) + b"}"
        return 200, {}, body

    # ------------------------------------------------------------------ for assertions

    def transactions(self, statuses: tuple[str, ...] | None = None) -> set[str]:
        return {s.transaction for s in self.sales if statuses is None or s.status in statuses}
