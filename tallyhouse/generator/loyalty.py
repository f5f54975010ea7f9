"""Loyalty points accounts, redemption orders and external redemptions."""

from __future__ import annotations

from datetime import datetime, timedelta

from tallyhouse.generator import render
from tallyhouse.generator.catalog import (
    COMPANY_NAMES,
    EXTERNAL_VENDORS,
    PORTFOLIO_VENDOR,
    REDEMPTION_PRODUCTS,
)
from tallyhouse.generator.model import (
    rng_uuid,
)
from tallyhouse.generator.state import (
    GeneratorState,
)


class Loyalty(GeneratorState):
    """Points entries (authorize / confirm / cancel / credit / expire) and portal orders."""

    # ------------------------------------------------------------------ loyalty

    def _init_loyalty(self) -> None:
        rng = self.rng
        count = max(4, min(200, self.cfg.transactions // 5000))
        self.companies = []
        for i in range(count):
            name = COMPANY_NAMES[i % len(COMPANY_NAMES)]
            if i >= len(COMPANY_NAMES):
                name = f"{name} {i // len(COMPANY_NAMES) + 1}"
            managers = []
            for m in range(rng.randrange(1, 4)):
                person = render.customer(10_000_000 + i * 10 + m)
                managers.append((render.stable_uuid("manager", i, m), person["email"],
                                 person["name"]))
            self.companies.append({
                "id": render.stable_uuid("company", i), "name": name,
                "account": f"LA-{i + 1:05d}", "managers": managers,
                "credits": 0, "confirmed": 0, "held": 0,
            })
        self.redemption_seq = 0
        self.orders_per_day = max(20, self.cfg.transactions // 40) / self.cfg.days
        self.externals_per_day = max(10, self.cfg.transactions // 80) / self.cfg.days
        self.open_orders: list[tuple] = []

    def ledger(self, company: dict, entry_type: str, points: int, at: datetime, vendor: str = "",
               vendor_kind: str = "", order_number: str = "", auth_id: str = "",
               external_id: str = "") -> None:
        """Post one points-ledger entry (and count it in the truth); nothing after the end."""
        if at >= self.end:
            return
        self.files.write_row("loyalty", "loyalty_entries", at.date(), (
            rng_uuid(self.rng), company["account"], entry_type, points, vendor, vendor_kind,
            order_number, auth_id, external_id, at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        self.truth.records["loyalty_entries"] += 1
        self.truth.points[f"{entry_type}.count"] += 1
        self.truth.points[f"{entry_type}.points"] += points
        if len(self.samples[f"loyalty_{entry_type}"]) < 3:
            self.samples[f"loyalty_{entry_type}"].append((company, points, at, auth_id))

    def _monthly_credits(self, day_start: datetime) -> None:
        # Enough to cover a month of redemptions on average, so most orders go through
        # and some companies still run short.
        demand = (self.orders_per_day * 90_000 + self.externals_per_day * 10_500) * 30
        mean = demand / len(self.companies)
        for company in self.companies:
            points = int(mean * self.rng.uniform(0.7, 1.6)) // 100 * 100
            at = day_start  # credited at midnight, before the day's redemptions
            company["credits"] += points
            self.ledger(company, "credit", points, at)

    def _available(self, company: dict) -> int:
        return company["credits"] - company["confirmed"] - company["held"]

    def _redemption_day(self, day_start: datetime) -> None:
        rng = self.rng
        orders = int(self.orders_per_day) + (rng.random() < self.orders_per_day % 1)
        for _ in range(orders):
            self._redemption_order(day_start + timedelta(seconds=rng.uniform(1, 86399)))
        externals = int(self.externals_per_day) + (rng.random() < self.externals_per_day % 1)
        for _ in range(externals):
            self._external_redemption(day_start + timedelta(seconds=rng.uniform(1, 86399)))

    def _hold_outcome(self, company: dict, points: int, at: datetime, vendor: str, kind: str,
                      order_number: str, external_id: str) -> tuple[str, datetime | None]:
        """authorize, then confirm / cancel / leave open. Returns (outcome, resolved_at)."""
        rng = self.rng
        auth_id = rng_uuid(rng)
        company["held"] += points
        self.ledger(company, "authorize", points, at, vendor, kind, order_number, auth_id,
                    external_id)
        roll = rng.random()
        resolved = at + timedelta(minutes=rng.uniform(1, 120))
        if roll < 0.03 or resolved >= self.end:
            self.truth.points["open_holds"] += 1
            self.truth.points["open_hold_points"] += points
            return "open", None
        company["held"] -= points
        if roll < 0.12:
            self.ledger(company, "cancel", points, resolved, vendor, kind, order_number, auth_id,
                        external_id)
            return "cancelled", resolved
        company["confirmed"] += points
        self.ledger(company, "confirm", points, resolved, vendor, kind, order_number, auth_id,
                    external_id)
        kind_key = "confirmed_auth" if order_number else "confirmed_auth_external"
        if len(self.samples[kind_key]) < 3:
            self.samples[kind_key].append((company, points, resolved, auth_id, order_number))
        return "confirmed", resolved

    def _redemption_order(self, at: datetime) -> None:
        rng = self.rng
        company = rng.choice(self.companies)
        manager = rng.choice(company["managers"])
        self.redemption_seq += 1
        number = f"RO-{self.redemption_seq:07d}"
        items = []
        for product in rng.sample(REDEMPTION_PRODUCTS, rng.randrange(1, 4)):
            items.append((product, rng.randrange(1, 3)))
        total = sum(product[3] * qty for product, qty in items)
        if self._available(company) < total:
            outcome, resolved = "rejected", at
        else:
            outcome, resolved = self._hold_outcome(company, total, at, PORTFOLIO_VENDOR,
                                                   "portfolio", number, "")
        status = {"confirmed": "COMPLETED", "cancelled": "CANCELLED", "open": "PENDING",
                  "rejected": "REJECTED"}[outcome]
        reported_total = total
        if self._take_hook("order_points", self.redemption_seq, status == "COMPLETED"):
            reported_total = total + 500
            self.samples["order_points"].append((number, total, reported_total, company))
        record = (number, company, manager, reported_total, status, at, resolved, items, outcome)
        if outcome == "open":
            self.open_orders.append(record)
        else:
            self._write_redemption(record, resolved or at)

    def _write_redemption(self, record: tuple, written_at: datetime) -> None:
        number, company, manager, total, status, at, resolved, items, outcome = record
        if at >= self.end:
            return
        day = min(written_at, self.end - timedelta(seconds=1)).date()
        self.files.write_row("redemptions", "redemption_orders", day, (
            number, company["id"], company["name"], company["account"], manager[0], manager[1],
            manager[2], total, status, at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            resolved.strftime("%Y-%m-%dT%H:%M:%SZ") if status == "COMPLETED" else ""))
        self.truth.records["redemption_orders"] += 1
        r = self.truth.redemptions
        r[f"orders.{status}.count"] += 1
        r[f"orders.{status}.points"] += total
        for position, (product, qty) in enumerate(items, start=1):
            sku, name, kind, points = product
            if status == "COMPLETED":
                fulfilment = "DELIVERED" if kind == "VIRTUAL" else self.rng.choice(
                    ("SHIPPED", "DELIVERED"))
            elif status == "PENDING":
                fulfilment = "PENDING"
            else:
                fulfilment = "CANCELLED"
            self.files.write_row("redemptions", "redemption_items", day, (
                f"{number}-{position}", number, sku, name, kind, qty, points, fulfilment))
            self.truth.records["redemption_items"] += 1
            r["items.count"] += 1
            r[f"items.{kind}.points"] += points * qty

    def _close_open_orders(self) -> None:
        for record in self.open_orders:
            self._write_redemption(record, self.end - timedelta(seconds=1))

    def _external_redemption(self, at: datetime) -> None:
        rng = self.rng
        company = rng.choice(self.companies)
        points = rng.randrange(10, 200) * 100
        if self._available(company) < points:
            return
        self._hold_outcome(company, points, at, rng.choice(EXTERNAL_VENDORS), "external", "",
                           rng_uuid(rng))
        self.truth.points["external_redemptions"] += 1
