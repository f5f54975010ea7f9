"""Deterministic, streaming generator of every landing feed tallyhouse reads.

The world is generated day by day. Each transaction's whole lifecycle is decided
when it is created; its events are written at once into the daily file of the day
they are *delivered* (event time + a delivery lag), so files hold events out of
order, late events land in later files, some webhooks are delivered twice and the
last hour of a day is delivered again at the start of the next day's file.
Memory stays bounded: only open subscriptions, gift-card balances and points
accounts are kept, never the transactions themselves.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tallyhouse.generator.giftcards import GiftCards
from tallyhouse.generator.loyalty import Loyalty
from tallyhouse.generator.payouts import Payouts
from tallyhouse.generator.sales import PlatformSales
from tallyhouse.generator.state import (
    GenerateConfig,
)
from tallyhouse.generator.store import StoreOrders
from tallyhouse.generator.subscriptions import Subscriptions
from tallyhouse.generator.truth import TruthDocument


class Generator(PlatformSales, Subscriptions, StoreOrders, GiftCards, Loyalty, Payouts,
                TruthDocument):
    """The whole world, day by day: each domain is a part (sales, subscriptions, store,
    gift cards, loyalty, payouts, truth) over the shared GeneratorState."""

    # ------------------------------------------------------------------ main loop

    def run(self) -> dict:
        started = time.monotonic()
        cfg = self.cfg
        total = cfg.transactions
        self._plan_anomaly_hooks()
        report_every = max(1, cfg.days // 10)
        for day_index in range(cfg.days):
            day_start = self.start + timedelta(days=day_index)
            day_end = day_start + timedelta(days=1)
            target = (total * (day_index + 1)) // cfg.days
            today = target - self.created
            if day_start.day == 1 or day_index == 0:
                self._monthly_credits(day_start)
            while self.subs and self.subs[0][0] < day_end and today > 0:
                due, _, sub = heapq.heappop(self.subs)
                self._recurrence(sub, due)
                today -= 1
            times = sorted(day_start + timedelta(seconds=self.rng.uniform(0, 86399))
                           for _ in range(max(0, today)))
            for at in times:
                self._new_purchase(at)
            self._abandoned_carts(day_start, max(1, len(times) // 30))
            self._redemption_day(day_start)
            self.advance(self.created, total)
            if (day_index + 1) % report_every == 0 or day_index == cfg.days - 1:
                self.progress(
                    f"  {day_start.date()}: {self.created:,}/{total:,} transactions "
                    f"({time.monotonic() - started:.0f}s)")
        self._close_open_orders()
        clean_transactions = self.created  # before any injected anomaly
        if cfg.anomalies:
            from tallyhouse.generator.anomalies import inject

            inject(self)
        self.files.close()
        return self._write_outputs(time.monotonic() - started, clean_transactions)

    # ------------------------------------------------------------------ anomalies

    def _plan_anomaly_hooks(self) -> None:
        """Where generation itself must produce a broken record (--anomalies).

        Each hook fires on the first eligible entity at or after its index, early in
        the period so that the broken entity is complete by the end date.
        """
        if not self.cfg.anomalies:
            return
        n = self.cfg.transactions
        self.anomaly_hooks = {"payout_skip": 0, "payout_mismatch": n // 10,
                              "voucher_mismatch": n // 20, "split_base": n // 20,
                              "order_points": 3}

    def _take_hook(self, name: str, index: int, eligible: bool) -> bool:
        start = self.anomaly_hooks.get(name)
        if start is None or index < start or not eligible:
            return False
        del self.anomaly_hooks[name]
        return True


def generate(config: GenerateConfig, progress: Callable[[str], None] | None = None,
             advance: Callable[[int, int], None] | None = None) -> dict:
    """Write the extracts, ``_truth.json`` (and ``_anomalies.json``) into ``config.out``.
    ``progress`` receives a line now and then; ``advance`` the transactions created so far
    and the total, once a generated day (for a progress bar)."""
    out = config.out
    if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise FileExistsError(f"{out} is not empty: generate into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    if config.transactions < 1:
        raise ValueError("--transactions must be at least 1")
    summary = Generator(config, progress, advance).run()
    if config.gzip:
        compress_extracts(out, progress)
    return summary


def compress_extracts(out: Path, progress: Callable[[str], None] | None = None) -> int:
    """Replace every extract under ``out/<source>/`` by its gzip (``.gz``), keeping its
    modification time; the ground-truth files at the top stay as they are."""
    import gzip
    import os
    import shutil

    files = sorted(p for p in out.glob("*/*") if p.is_file() and not p.name.endswith(".gz"))
    for index, path in enumerate(files, start=1):
        target = path.with_name(path.name + ".gz")
        with path.open("rb") as source, gzip.open(target, "wb", compresslevel=5) as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        stat = path.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        path.unlink()
        if progress and (index % 200 == 0 or index == len(files)):
            progress(f"compressed {index}/{len(files)} extracts")
    return len(files)
