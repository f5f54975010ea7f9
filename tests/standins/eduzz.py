"""MyEduzz's ``GET /myeduzz/v1/sales`` and ``/sales/summary`` on loopback.

Eduzz publishes no complete JSON example of these answers (the stored copies end midway:
tests/fixtures/reference_payloads/eduzz/api/*.PARTIAL.txt), so a sale here is assembled from
the fields the reference pages document for ``sales/:id`` (id, status, grossGain, netGain,
partnersGain, affiliatesGain, fee, total, installments, currency, paidAt, paymentMethod …,
money as ``{currency, value}``) and the summary from the partial example's fields and
values. The bearer token of the Eduzz console on every call; page / itemsPerPage paging with
``page``, ``pages``, ``totalItems`` beside ``items``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from standins.base import Answer, Seen, StandIn, compact

STATUS_MIX = (("paid", 60), ("refunded", 10), ("canceled", 10), ("open", 8),
              ("waiting_refund", 4), ("expired", 5), ("recovering", 3))
SUMMARY_FIELDS = ("discount", "grossGain", "netGain", "partnersGain", "affiliatesGain", "fee",
                  "others", "total")


@dataclass
class Sale:
    id: str
    created_at: datetime
    status: str
    total: float
    item: bytes = b""


def _money(value: float) -> dict:
    return {"currency": "BRL", "value": round(value, 2)}


class EduzzStandIn(StandIn):
    def __init__(self, token: str, sales: int = 80,
                 start: datetime = datetime(2026, 2, 1, 12, tzinfo=UTC), days: int = 70,
                 seed: int = 3):
        super().__init__()
        self.token = token
        rng = random.Random(seed)
        self.sales: list[Sale] = []
        for n in range(sales):
            created = start + timedelta(seconds=rng.randrange(days * 86400))
            status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
            sale = Sale(str(80000000 + n), created, status, rng.choice((97.0, 197.0, 497.0)))
            self._render(sale)
            self.sales.append(sale)

    def _render(self, sale: Sale) -> None:
        fee = round(sale.total * 0.089 + 1, 2)
        item = {
            "id": sale.id, "contractId": None, "status": sale.status,
            "grossGain": _money(sale.total - fee), "netGain": _money(sale.total - fee),
            "partnersGain": _money(0), "affiliatesGain": _money(0), "fee": _money(fee),
            "total": _money(sale.total), "totalInterest": _money(sale.total),
            "installments": 1, "currency": "BRL", "locale": "pt-BR",
            "createdAt": sale.created_at.isoformat().replace("+00:00", "Z"),
            "dueDate": (sale.created_at + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
            "paidAt": sale.created_at.isoformat().replace("+00:00", "Z")
            if sale.status in ("paid", "refunded", "waiting_refund") else None,
            "paymentMethod": "pix",
            "buyer": {"name": "Alice Johnson", "email": f"alice{sale.id}@example.com"},
            "product": {"id": "1454585", "name": "Orbita"},
        }
        sale.item = compact(item)

    def handle(self, seen: Seen):
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            raise Answer(401, {"code": "unauthorized", "message": "invalid token"})
        if seen.method == "GET" and seen.path in ("/myeduzz/v1/sales",
                                                  "/myeduzz/v1/sales/summary"):
            try:
                first = datetime.fromisoformat(seen.query["startDate"])
                last = datetime.fromisoformat(seen.query["endDate"])
            except (KeyError, ValueError):
                raise Answer(400, {"code": "invalid_parameter",
                                   "message": "startDate and endDate are required"}) from None
            chosen = sorted((s for s in self.sales if first <= s.created_at <= last),
                            key=lambda s: (s.created_at, s.id))
            if seen.path.endswith("/summary"):
                status = seen.query.get("status")
                chosen = [s for s in chosen if status is None or s.status == status]
                total = sum(s.total for s in chosen)
                fee = sum(round(s.total * 0.089 + 1, 2) for s in chosen)
                values = {"discount": 0, "grossGain": total - fee, "netGain": total - fee,
                          "partnersGain": 0, "affiliatesGain": 0, "fee": fee, "others": 0,
                          "total": total}
                return 200, {}, compact({k: _money(values[k]) for k in SUMMARY_FIELDS})
            size = int(seen.query.get("itemsPerPage") or 10)
            page = int(seen.query.get("page") or 1)
            pages = max(1, -(-len(chosen) // size))
            items = [s.item for s in chosen][(page - 1) * size: page * size]
            return 200, {}, (b'{"items":[' + b",".join(items) + b'],' + compact(
                {"page": page, "pages": pages, "totalItems": len(chosen),
                 "itemsPerPage": size})[1:])
        raise Answer(404, {"code": "not_found"})
