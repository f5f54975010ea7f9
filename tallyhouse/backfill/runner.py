"""A backfill: every query of the plan, every page, landed and checkpointed one by one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson

from tallyhouse.backfill import checkpoint as cp
from tallyhouse.backfill.http import ApiClient, ApiError, BackfillError
from tallyhouse.backfill.pages import (
    PageError,
    land_page,
    list_elements,
    page_name,
    remove_stale_temporaries,
    wrap_answer,
)
from tallyhouse.backfill.platforms import PLATFORMS, Platform, Query, windows
from tallyhouse.backfill.progress import Reporter
from tallyhouse.backfill.secrets import Credentials, Redactor, credentials_from_env

DEFAULT_TRAILING_DAYS = 60
MODES = ("history", "resync")


@dataclass
class Options:
    platform: str
    since: date
    until: date
    landing: Path
    mode: str = "history"
    page_size: int | None = None
    # requests per second; None: the platform's default; 0: no limit (a stand-in, a test)
    requests_per_second: float | None = None
    restart: bool = False
    say: Callable[[str], None] = print
    interactive: bool | None = None
    environ: dict[str, str] | None = None
    zone: str | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    transport: httpx.BaseTransport | None = None
    max_attempts: int | None = None
    timeout: float | None = None  # seconds for one request (default 60)
    # a test's way to stop a backfill in the middle: called after each landed page
    after_page: Callable[[int], None] | None = None


@dataclass
class FeedTotals:
    pages: int = 0
    files: int = 0
    records: int = 0


@dataclass
class Result:
    platform: str
    mode: str
    since: date
    until: date
    landing: Path
    windows: int
    queries: int
    feeds: dict[str, FeedTotals] = field(default_factory=dict)
    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    waited_seconds: float = 0.0
    seconds: float = 0.0
    resumed_at_query: int | None = None
    restarted_queries: int = 0

    @property
    def records(self) -> int:
        return sum(t.records for t in self.feeds.values())

    @property
    def pages(self) -> int:
        return sum(t.pages for t in self.feeds.values())

    @property
    def files(self) -> int:
        return sum(t.files for t in self.feeds.values())

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary, as plain lines (a log, Dagster)."""
        out = [f"Backfill {self.platform} ({self.mode}) {self.since}..{self.until}: "
               f"{self.windows} windows, {self.queries:,} queries, {self.requests:,} requests"]
        for feed, totals in sorted(self.feeds.items()):
            out.append(f"  {feed}: {totals.pages:,} pages, {totals.records:,} records, "
                       f"{totals.files:,} files")
        retries = ", ".join(f"{n} × {why}" for why, n in sorted(self.retries.items())) or "none"
        out.append(f"  retries: {retries}; waited {self.waited_seconds:.1f} s")
        if self.resumed_at_query is not None:
            out.append(f"  resumed at query {self.resumed_at_query + 1:,} of {self.queries:,}")
        out.append(f"  {self.records:,} records in {self.seconds:.1f} s: "
                   f"{self.records_per_second:,.0f} records/s; landed in "
                   f"{self.landing / self.platform}")
        return out


def business_zone(options: Options) -> ZoneInfo:
    if options.zone:
        return ZoneInfo(options.zone)
    from tallyhouse.config import business_time_zone

    return ZoneInfo(business_time_zone())


def today(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def plan_of(platform: Platform, options: Options, credentials: Credentials,
            queries: list[Query], page_size: int) -> dict:
    """What identifies a backfill for its checkpoint: the same arguments resume it."""
    return {"platform": platform.name, "mode": options.mode, "since": str(options.since),
            "until": str(options.until), "page_size": page_size, "queries": len(queries),
            "first": queries[0].key if queries else "", "last": queries[-1].key if queries
            else "", "urls": credentials.urls}


def run_backfill(options: Options) -> Result:
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if options.until < options.since:
        raise BackfillError(f"--until {options.until} is before --since {options.since}")
    platform = PLATFORMS[options.platform]
    credentials = credentials_from_env(platform.name, options.environ)
    zone = business_zone(options)
    spans = windows(options.since, options.until, platform.window_days)
    queries = platform.queries(spans, options.mode, zone)
    page_size = options.page_size or platform.default_page_size
    folder = options.landing / platform.source
    plan = plan_of(platform, options, credentials, queries, page_size)
    pid = cp.plan_id(plan)
    result = Result(platform.name, options.mode, options.since, options.until, options.landing,
                    len(spans), len(queries))
    rate = (platform.default_rate if options.requests_per_second is None
            else options.requests_per_second)
    redactor = Redactor(list(credentials.values.values()))

    with cp.PlatformLock(folder, platform.name):
        remove_stale_temporaries(folder)
        if options.restart:
            cp.clear(folder, pid)
        if options.mode == "resync":  # yesterday's re-sync is covered by today's
            for stale in cp.unfinished(folder, platform.name):
                if stale.plan.get("mode") == "resync" and stale.plan_id != pid:
                    cp.clear(folder, stale.plan_id)
        state = cp.load(folder, pid)
        if state and state.query_index > len(queries):
            state = None
        if state and state.query_index < len(queries) and \
                queries[state.query_index].key != state.query_key:
            state = None  # not the plan it claims: start over (landed pages dedup)
        reporter = Reporter(platform.name, len(queries), len(spans), options.say,
                            options.interactive)
        if state is None:
            state = cp.Checkpoint(pid, plan, started_at=datetime.now(UTC).isoformat())
            options.say(f"Backfill {platform.name} {options.since}..{options.until} "
                        f"({options.mode}): {len(spans)} windows, {len(queries):,} queries, "
                        f"into {folder}")
            for other in cp.unfinished(folder, platform.name):
                if other.plan_id != pid and other.plan.get("mode") == "history":
                    options.say(f"  an unfinished backfill of {other.plan.get('since')}.."
                                f"{other.plan.get('until')} (started {other.started_at}) "
                                "stays resumable: run it again with those dates")
        else:
            state.resumed += 1
            result.resumed_at_query = state.query_index
            options.say(f"Backfill {platform.name} {options.since}..{options.until} "
                        f"({options.mode}): resuming at query {state.query_index + 1:,} of "
                        f"{len(queries):,} ({state.query_key}, after {state.pages_done} pages "
                        f"of it), started {state.started_at}")
        started = time.monotonic()
        client = ApiClient(redactor, platform.authenticator(credentials),
                           requests_per_second=rate or None, sleep=options.sleep,
                           clock=options.clock, on_retry=reporter.retry,
                           transport=options.transport,
                           **({"max_attempts": options.max_attempts}
                              if options.max_attempts else {}),
                           **({"timeout": options.timeout} if options.timeout else {}))
        reporter.start(state.query_index)
        # windows done before the resume point count as done
        reporter.windows_done = len({q.window for q in queries[:state.query_index]})
        try:
            landed = 0
            for index in range(state.query_index, len(queries)):
                query = queries[index]
                resume = index == state.query_index and state.pages_done > 0
                page = state.pages_done + 1 if resume else 1
                cursor = state.cursor if resume else platform.first_cursor()
                reporter.query_started(query)
                while True:
                    answer = client.get(platform.url(credentials, query),
                                        platform.page_params(query, cursor, page_size),
                                        what=f"{platform.name} {query.path} {query.window} "
                                             f"{query.filter} page {page}")
                    fetched_at = datetime.now(UTC)
                    if not answer.ok:
                        code, text = answer.error_fields()
                        if page > 1 and resume and platform.cursor_rejected(
                                answer.status, code, text):
                            reporter.note(f"  {platform.name}: the saved cursor of "
                                          f"{query.key} is no longer accepted; that query "
                                          "starts over (pages already landed are not "
                                          "counted twice)")
                            result.restarted_queries += 1
                            resume, page, cursor = False, 1, platform.first_cursor()
                            continue
                        raise ApiError(redactor.redact(
                            f"{answer.what}: HTTP {answer.status} {code or ''} {text}"),
                            answer.status, code)
                    try:
                        if query.list_key is None:
                            parsed = orjson.loads(answer.body)
                            records = [wrap_answer({"path": query.path, **query.params},
                                                   answer.body)]
                        else:
                            records, parsed = list_elements(answer.body, query.list_key)
                    except (PageError, ValueError) as exc:
                        raise ApiError(f"{answer.what}: the answer is not the page expected "
                                       f"({redactor.redact(exc)})", answer.status) from None
                    totals = result.feeds.setdefault(query.feed, FeedTotals())
                    totals.pages += 1
                    if records:
                        land_page(folder, page_name(query.feed, query.window.first_day,
                                                    query.window.last_day, query.filter,
                                                    page, fetched_at), records)
                        totals.files += 1
                        totals.records += len(records)
                    reporter.page_landed(query, page, len(records))
                    listed = len(records) if query.list_key is not None else 0
                    cursor = platform.next_cursor(parsed, listed, cursor, page_size)
                    landed += 1
                    if cursor is None:
                        break
                    state.query_index, state.query_key = index, query.key
                    state.pages_done, state.cursor = page, cursor
                    state.totals = _totals(result)
                    cp.save(folder, state)
                    if options.after_page:
                        options.after_page(landed)
                    page += 1
                last_of_window = index + 1 == len(queries) or \
                    queries[index + 1].window != query.window
                reporter.query_done(query, last_of_window)
                state.query_index = index + 1
                state.query_key = queries[index + 1].key if index + 1 < len(queries) else ""
                state.pages_done, state.cursor = 0, None
                state.totals = _totals(result)
                cp.save(folder, state)
                if options.after_page:
                    options.after_page(landed)
            cp.clear(folder, pid)
        finally:
            reporter.stop()
            result.requests = client.requests
            result.retries = dict(client.retries)
            result.waited_seconds = client.waited
            result.seconds = time.monotonic() - started
            client.close()
    return result


def _totals(result: Result) -> dict:
    return {feed: {"pages": t.pages, "files": t.files, "records": t.records}
            for feed, t in result.feeds.items()}


def trailing_resync(platform: str, landing: Path, days: int = DEFAULT_TRAILING_DAYS,
                    **options) -> Result:
    """The daily re-sync: the last ``days`` business days (today included) asked again —
    by update date where the API offers it (Kiwify's ``updated_at_*``), by sale date
    elsewhere — so that refunds, chargebacks and late approvals of recent sales arrive even
    when a webhook was lost. Records that did not change land nothing (the loaders skip
    them by hash)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    zone_name = options.pop("zone", None)
    probe = Options(platform, date.today(), date.today(), landing, zone=zone_name)
    zone = business_zone(probe)
    until = options.pop("until", None) or today(zone)
    since = until - timedelta(days=days - 1)
    return run_backfill(Options(platform, since, until, landing, mode="resync",
                                zone=zone_name, **options))
