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
            "windows": len({q.window for q in queries}),
            "first": queries[0].key if queries else "", "last": queries[-1].key if queries
            else "", "urls": credentials.urls}


def run_backfill(options: Options) -> Result:
    """Every query of the plan, every page, each landed and checkpointed in turn."""
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if options.until < options.since:
        raise BackfillError(f"--until {options.until} is before --since {options.since}")
    platform = PLATFORMS[options.platform]
    credentials = credentials_from_env(platform.name, options.environ)
    spans = windows(options.since, options.until, platform.window_days)
    queries = platform.queries(spans, options.mode, business_zone(options))
    page_size = options.page_size or platform.default_page_size
    folder = options.landing / platform.source
    plan = plan_of(platform, options, credentials, queries, page_size)
    result = Result(platform.name, options.mode, options.since, options.until, options.landing,
                    len(spans), len(queries))
    with cp.PlatformLock(folder, platform.name):
        remove_stale_temporaries(folder)
        state = _starting_point(folder, plan, queries, options)
        if state.resumed:
            result.resumed_at_query = state.query_index
        _Run(platform, credentials, options, folder, queries, page_size, state, result).go()
        cp.clear(folder, state.plan_id)
    return result


def _starting_point(folder: Path, plan: dict, queries: list[Query],
                    options: Options) -> cp.Checkpoint:
    """The checkpoint of this very backfill if one was stopped, else a fresh one."""
    pid = cp.plan_id(plan)
    name, span = plan["platform"], f"{options.since}..{options.until}"
    if options.restart:
        cp.clear(folder, pid)
    others = [c for c in cp.unfinished(folder, name) if c.plan_id != pid]
    if options.mode == "resync":  # yesterday's re-sync is covered by today's
        for stale in (c for c in others if c.plan.get("mode") == "resync"):
            cp.clear(folder, stale.plan_id)
    state = cp.load(folder, pid)
    if state and (state.query_index > len(queries) or (
            state.query_index < len(queries)
            and queries[state.query_index].key != state.query_key)):
        state = None  # not the plan it claims: start over (pages landed twice dedup)
    if state is not None:
        state.resumed += 1
        options.say(f"Backfill {name} {span} ({options.mode}): resuming at query "
                    f"{state.query_index + 1:,} of {len(queries):,} ({state.query_key}, after "
                    f"{state.pages_done} pages of it), started {state.started_at}")
        return state
    options.say(f"Backfill {name} {span} ({options.mode}): {plan['windows']} windows, "
                f"{len(queries):,} queries, into {folder}")
    for other in (c for c in others if c.plan.get("mode") == "history"):
        options.say(f"  an unfinished backfill of {other.plan.get('since')}.."
                    f"{other.plan.get('until')} (started {other.started_at}) stays "
                    "resumable: run it again with those dates")
    return cp.Checkpoint(pid, plan, started_at=datetime.now(UTC).isoformat())


class _Run:
    """One backfill in progress: the client, the checkpoint, the progress and the totals."""

    def __init__(self, platform: Platform, credentials: Credentials, options: Options,
                 folder: Path, queries: list[Query], page_size: int, state: cp.Checkpoint,
                 result: Result):
        self.platform, self.credentials, self.options = platform, credentials, options
        self.folder, self.queries, self.page_size = folder, queries, page_size
        self.state, self.result = state, result
        self.redactor = Redactor(list(credentials.values.values()))
        self.reporter = Reporter(platform.name, len(queries), result.windows, options.say,
                                 options.interactive)
        self.pages_landed = 0

    def go(self) -> None:
        options = self.options
        rate = (self.platform.default_rate if options.requests_per_second is None
                else options.requests_per_second)
        extra = {key: value for key, value in (("max_attempts", options.max_attempts),
                                               ("timeout", options.timeout)) if value}
        started = time.monotonic()
        client = ApiClient(self.redactor, self.platform.authenticator(self.credentials),
                           requests_per_second=rate or None, sleep=options.sleep,
                           clock=options.clock, on_retry=self.reporter.retry,
                           transport=options.transport, **extra)
        self.reporter.start(self.state.query_index)
        # the windows before the resume point are done
        self.reporter.windows_done = len({q.window for q in
                                          self.queries[:self.state.query_index]})
        try:
            for index in range(self.state.query_index, len(self.queries)):
                self._query(client, index)
        finally:
            self.reporter.stop()
            self.result.requests = client.requests
            self.result.retries = dict(client.retries)
            self.result.waited_seconds = client.waited
            self.result.seconds = time.monotonic() - started
            client.close()

    def _query(self, client: ApiClient, index: int) -> None:
        """Every page of one query, from where the checkpoint says."""
        query, state, platform = self.queries[index], self.state, self.platform
        resume = index == state.query_index and state.pages_done > 0
        page = state.pages_done + 1 if resume else 1
        cursor = state.cursor if resume else platform.first_cursor()
        self.reporter.query_started(query)
        while True:
            answer = client.get(platform.url(self.credentials, query),
                                platform.page_params(query, cursor, self.page_size),
                                what=f"{platform.name} {query.path} {query.window} "
                                     f"{query.filter} page {page}")
            fetched_at = datetime.now(UTC)
            if not answer.ok:
                if resume and page > 1 and platform.cursor_rejected(
                        answer.status, *answer.error_fields()):
                    self.reporter.note(f"  {platform.name}: the saved cursor of {query.key} "
                                       "is no longer accepted; that query starts over (pages "
                                       "already landed are not counted twice)")
                    self.result.restarted_queries += 1
                    resume, page, cursor = False, 1, platform.first_cursor()
                    continue
                code, text = answer.error_fields()
                raise ApiError(self.redactor.redact(
                    f"{answer.what}: HTTP {answer.status} {code or ''} {text}"),
                    answer.status, code)
            records, parsed = self._records(query, answer)
            self._land(query, page, fetched_at, records)
            listed = len(records) if query.list_key is not None else 0
            cursor = platform.next_cursor(parsed, listed, cursor, self.page_size)
            if cursor is None:
                break
            self._checkpoint(index, query.key, page, cursor)
            page += 1
        following = self.queries[index + 1] if index + 1 < len(self.queries) else None
        self.reporter.query_done(query, following is None or following.window != query.window)
        self._checkpoint(index + 1, following.key if following else "", 0, None)

    def _records(self, query: Query, answer) -> tuple[list[bytes], dict]:
        """The page's records: its list's elements as sent, or a summary with its request."""
        try:
            if query.list_key is None:
                return [wrap_answer({"path": query.path, **query.params}, answer.body)], \
                    orjson.loads(answer.body)
            return list_elements(answer.body, query.list_key)
        except (PageError, ValueError) as exc:
            raise ApiError(f"{answer.what}: the answer is not the page expected "
                           f"({self.redactor.redact(exc)})", answer.status) from None

    def _land(self, query: Query, page: int, fetched_at: datetime, records: list[bytes]):
        totals = self.result.feeds.setdefault(query.feed, FeedTotals())
        totals.pages += 1
        if records:  # an empty page leaves no file
            land_page(self.folder, page_name(query.feed, query.window.first_day,
                                             query.window.last_day, query.filter, page,
                                             fetched_at), records)
            totals.files += 1
            totals.records += len(records)
        self.reporter.page_landed(query, page, len(records))
        self.pages_landed += 1

    def _checkpoint(self, index: int, key: str, pages_done: int, cursor) -> None:
        state = self.state
        state.query_index, state.query_key = index, key
        state.pages_done, state.cursor = pages_done, cursor
        state.totals = _totals(self.result)
        cp.save(self.folder, state)
        if self.options.after_page:
            self.options.after_page(self.pages_landed)


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
