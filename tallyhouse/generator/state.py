"""The generator's shared state: configuration, ground truth, the open files and the
entities still open (subscriptions, gift cards, points accounts), and the delivery of a
record into the file of the day it is delivered. The day loop is in ``engine``; each
domain writes its records through the mixins beside this module.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from tallyhouse.generator import render
from tallyhouse.generator.catalog import DIGITAL_PRODUCTS
from tallyhouse.sources import FEEDS

PLATFORM_SHARE = (("hotmart", 40), ("kiwify", 25), ("eduzz", 15), ("pix", 20))
CURRENCIES = {
    "hotmart": (("BRL", 80), ("USD", 13), ("EUR", 7)),
    "kiwify": (("BRL", 92), ("USD", 8)),
    "eduzz": (("BRL", 95), ("USD", 5)),
    "pix": (("BRL", 100),),
}
FX_DIVISOR = {"BRL": 1.0, "USD": 5.0, "EUR": 6.0}
SALE_EVIDENCE = {"approved", "complete", "disputed", "refunded", "partially_refunded"}
PAYOUT_WEEKDAY = 0  # Mondays
PIX_SETTLEMENT_DAYS = 2
SPLIT_SETTLEMENT_DAYS = 2
DEFAULT_START = date(2026, 5, 1)
DEFAULT_DAYS = 184


@dataclass
class GenerateConfig:
    out: Path
    transactions: int
    seed: int = 42
    anomalies: bool = False
    start: date = DEFAULT_START
    days: int = DEFAULT_DAYS
    gzip: bool = False  # write every extract as <name>.gz, as real exports often come


def _cents_dict() -> defaultdict:
    return defaultdict(int)


@dataclass
class Truth:
    """Ground truth, accumulated in integer cents / points and written as JSON."""

    sales: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(_cents_dict)))
    payouts: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(_cents_dict)))
    subscriptions: dict = field(default_factory=lambda: defaultdict(_cents_dict))
    platform_events: dict = field(default_factory=lambda: defaultdict(_cents_dict))
    points: dict = field(default_factory=_cents_dict)
    redemptions: dict = field(default_factory=_cents_dict)
    giftcards: dict = field(default_factory=_cents_dict)
    pix: dict = field(default_factory=_cents_dict)
    records: dict = field(default_factory=_cents_dict)  # distinct records per feed
    customers: set = field(default_factory=set)
    products: dict = field(default_factory=lambda: defaultdict(_cents_dict))


class GeneratorState:
    """What every part of the generator shares: the configuration, the random source, the
    open files, the ground truth and the open entities (subscriptions, cards, accounts)."""

    def __init__(self, config: GenerateConfig, progress: Callable[[str], None] | None = None,
                 advance: Callable[[int, int], None] | None = None):
        from tallyhouse.generator.writer import DailyFiles

        self.cfg = config
        self.rng = random.Random(config.seed)
        self.progress = progress or (lambda message: None)
        # (transactions created so far, transactions asked for), once a generated day
        self.advance = advance or (lambda done, total: None)
        self.start = datetime(config.start.year, config.start.month, config.start.day,
                              tzinfo=UTC)
        self.end = self.start + timedelta(days=config.days)
        self.files = DailyFiles(
            config.out, {feed.name: feed.columns for feed in FEEDS if feed.fmt == "csv"})
        self.truth = Truth()
        self.customer_pool = max(50, config.transactions // 3)
        self.created = 0
        self.subs: list[tuple[datetime, int, dict]] = []
        self.sub_seq = 0
        self.cards: dict[int, dict] = {}  # customer -> gift card
        self.voucher_holders: list[int] = []
        self.card_seq = 0
        self.products_by_platform = {
            platform: [i for i, p in enumerate(DIGITAL_PRODUCTS) if platform in p.platforms]
            for platform, _ in PLATFORM_SHARE if platform != "pix"
        }
        self.consultants = [render.stable_uuid("consultant", i) for i in range(40)]
        self.master_merchant = render.stable_uuid("store-master-merchant")
        self.samples: dict[str, list] = defaultdict(list)
        self.anomaly_hooks: dict[str, int] = {}
        self.anomalies: list[dict] = []
        self._init_loyalty()

    # ------------------------------------------------------------------ delivery

    def write_json(self, source: str, feed: str, moment: datetime, payload: object) -> None:
        self.files.write_line(source, feed, moment.date(), orjson.dumps(payload) + b"\n")

    def deliver(self, source: str, feed: str, payload: object, event_at: datetime,
                webhook: bool = True) -> bool:
        """Write one record into the file of the day it is delivered. False if not yet."""
        if event_at >= self.end:
            return False
        rng = self.rng
        roll = rng.random()
        if not webhook:
            lag = rng.uniform(60, 3600)
        elif roll < 0.90:
            lag = rng.uniform(0.2, 60)
        elif roll < 0.98:
            lag = rng.uniform(60, 1800)
        else:
            lag = rng.uniform(3600, 48 * 3600)
        delivered = event_at + timedelta(seconds=lag)
        if delivered >= self.end:
            return False
        line = orjson.dumps(payload) + b"\n"
        self.files.write_line(source, feed, delivered.date(), line)
        self.truth.records[feed] += 1
        next_day = delivered.date() + timedelta(days=1)
        if delivered.hour == 23 and next_day < self.end.date():
            # Daily extracts overlap: the last hour comes again in tomorrow's file.
            self.files.write_line(source, feed, next_day, line)
        if webhook and rng.random() < 0.02:
            again = delivered + timedelta(seconds=rng.uniform(300, 7200))
            if again < self.end:
                self.files.write_line(source, feed, again.date(), line)
        return True
