"""Kiwify's OAuth and ``GET /v1/sales`` on loopback, built from the published examples
(tests/fixtures/reference_payloads/kiwify/api/: the list page and the full sale).

As documented: ``POST /v1/oauth/token`` with ``client_id`` / ``client_secret`` as a form;
every call carries the bearer token and ``x-kiwify-account-id``; ``start_date`` /
``end_date`` (or ``updated_at_start_date`` / ``updated_at_end_date``), YYYY-MM-DD, at most
90 days apart (400 beyond); ``page_number`` / ``page_size``; ``view_full_sale_details=true``
gives the full sale (payment breakdown in cents, revenue partners, affiliate commission).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from standins.base import Answer, Seen, StandIn, compact, reference

STATUS_MIX = (("paid", 60), ("refunded", 10), ("chargedback", 3), ("refused", 10),
              ("waiting_payment", 10), ("pending_refund", 3), ("refund_requested", 4))


@dataclass
class Sale:
    id: str
    created_at: datetime
    updated_at: datetime
    status: str
    charge: int  # cents
    full: bytes = b""
    short: bytes = b""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class KiwifyStandIn(StandIn):
    def __init__(self, client_id: str, client_secret: str, account_id: str, sales: int = 150,
                 start: datetime = datetime(2025, 9, 1, 12, tzinfo=UTC), days: int = 200,
                 seed: int = 90):
        super().__init__()
        self.client_id, self.client_secret, self.account_id = client_id, client_secret, \
            account_id
        self.valid_token: str | None = None
        self.tokens_issued: list[str] = []
        self._full_template = reference("kiwify", "sale-single.official-doc.json")
        self._short_template = reference("kiwify", "sales-list.official-doc.json")["data"][0]
        rng = random.Random(seed)
        self.sales: list[Sale] = []
        for n in range(sales):
            created = start + timedelta(seconds=rng.randrange(days * 86400))
            status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
            sale = Sale(f"5cbb3832-7b5f-4cf2-b04e-{n:012d}", created,
                        created + timedelta(minutes=rng.randrange(1, 5000)), status,
                        rng.choice((4990, 9700, 19700, 29700)))
            self._render(sale)
            self.sales.append(sale)

    def _render(self, sale: Sale) -> None:
        full = copy.deepcopy(self._full_template)
        full.update(id=sale.id, created_at=_iso(sale.created_at),
                    updated_at=_iso(sale.updated_at), status=sale.status,
                    approved_date=_iso(sale.created_at))
        fee, n = sale.charge // 10, int(sale.id[-6:])
        net = sale.charge - fee
        # one currency per sale (the published example mixes BRL and USD figures that do
        # not add up); every third sale shares its net with a co-producer, every fourth
        # with an affiliate
        full.update(currency="BRL")
        full["payment"] = {**full["payment"], "charge_amount": sale.charge,
                           "charge_currency": "BRL", "product_base_price": sale.charge,
                           "product_base_currency": "BRL", "settlement_amount": net,
                           "settlement_currency": "BRL", "fee": fee, "fee_currency": "BRL",
                           "net_amount": net}
        full["revenue_partners"] = [
            {**full["revenue_partners"][0], "percentage": 20,
             "net_amount_split": net * 20 // 100, "charge_amount_split": sale.charge // 5}
        ] if n % 3 == 0 else []
        full["affiliate_commission"] = {**full["affiliate_commission"],
                                        "amount": net // 10} if n % 4 == 0 else None
        full["customer"] = {**full["customer"], "email": f"c{sale.id[-6:]}@example.com"}
        sale.full = compact(full)
        short = copy.deepcopy(self._short_template)
        short.update(id=sale.id, created_at=_iso(sale.created_at),
                     updated_at=_iso(sale.updated_at), status=sale.status)
        sale.short = compact(short)

    def set_status(self, sale_id: str, status: str, when: datetime) -> None:
        for sale in self.sales:
            if sale.id == sale_id:
                sale.status, sale.updated_at = status, when
                self._render(sale)
                return
        raise KeyError(sale_id)

    def expire_tokens(self) -> None:
        self.valid_token = None

    def handle(self, seen: Seen):
        if seen.method == "POST" and seen.path == "/v1/oauth/token":
            from urllib.parse import parse_qs

            form = {k: v[-1] for k, v in parse_qs(seen.body.decode()).items()}
            if form.get("client_id") != self.client_id or \
                    form.get("client_secret") != self.client_secret:
                raise Answer(401, {"error": "invalid_client"})
            token = f"kiwify-token-{len(self.tokens_issued) + 1}"
            self.tokens_issued.append(token)
            self.valid_token = token
            return 200, {}, compact({"access_token": token, "token_type": "Bearer",
                                     "expires_in": 86400, "scope": "sales"})
        if seen.method == "GET" and seen.path == "/v1/sales":
            if not self.valid_token or \
                    seen.headers.get("authorization") != f"Bearer {self.valid_token}":
                raise Answer(401, {"error": "unauthorized"})
            if seen.headers.get("x-kiwify-account-id") != self.account_id:
                raise Answer(403, {"error": "forbidden"})
            return self._sales(seen.query)
        raise Answer(404, {"error": "not_found"})

    def _sales(self, query: dict):
        if "updated_at_start_date" in query:
            basis, first, last = "updated", query.get("updated_at_start_date"), \
                query.get("updated_at_end_date")
        else:
            basis, first, last = "created", query.get("start_date"), query.get("end_date")
        try:
            first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
        except (TypeError, ValueError):
            raise Answer(400, {"error": "start_date and end_date are required (YYYY-MM-DD)"}
                         ) from None
        if (last_day - first_day).days > 90:
            raise Answer(400, {"error": "The interval between start_date and end_date must "
                                        "be at most 90 days"})
        moment = (lambda s: s.updated_at) if basis == "updated" else (lambda s: s.created_at)
        chosen = sorted((s for s in self.sales
                         if first_day <= moment(s).date() <= last_day),
                        key=lambda s: (s.created_at, s.id))
        size = int(query.get("page_size") or 10)
        page = int(query.get("page_number") or 1)
        full = query.get("view_full_sale_details") == "true"
        items = [s.full if full else s.short for s in chosen][(page - 1) * size: page * size]
        head = compact({"pagination": {"count": len(chosen), "page_number": page,
                                       "page_size": size}})
        return 200, {}, head[:-1] + b',"data":[' + b",".join(items) + b"]}"
