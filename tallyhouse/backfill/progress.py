"""What a backfill shows while it runs: a rich progress bar in a terminal (queries done,
the window in hand, pages, records, retries), plain lines anywhere else (a log, Dagster,
a test): one per window completed and one per retry."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    def __init__(self, platform: str, total_queries: int, total_windows: int,
                 say: Callable[[str], None] = print, interactive: bool | None = None):
        self.platform = platform
        self.total_queries = total_queries
        self.total_windows = total_windows
        self.say = say
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self.queries_done = 0
        self.windows_done = 0
        self.pages = 0
        self.records = 0
        self.retries = 0
        self._window = None
        self._window_pages = 0
        self._window_records = 0
        self._bar: Progress | None = None
        self._task = None

    def start(self, queries_done: int = 0) -> None:
        self.queries_done = queries_done
        if self.interactive:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("left"),
                TimeRemainingColumn())
            self._bar.start()
            self._task = self._bar.add_task(f"{self.platform}", total=self.total_queries,
                                            completed=queries_done, stats="")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _refresh(self, description: str | None = None) -> None:
        if self._bar is not None:
            stats = (f"windows {self.windows_done}/{self.total_windows}  pages {self.pages:,}  "
                     f"records {self.records:,}  retries {self.retries}")
            fields = {"completed": self.queries_done, "stats": stats}
            if description:
                fields["description"] = description
            self._bar.update(self._task, **fields)

    def query_started(self, query) -> None:
        if query.window != self._window:
            self._window = query.window
            self._window_pages = self._window_records = 0
        self._refresh(f"{self.platform} {query.window} {query.feed} {query.filter}")

    def page_landed(self, query, page: int, records: int) -> None:
        self.pages += 1
        self.records += records
        self._window_pages += 1
        self._window_records += records
        self._refresh()

    def query_done(self, query, last_of_window: bool) -> None:
        self.queries_done += 1
        if last_of_window:
            self.windows_done += 1
            if not self.interactive:
                self.say(f"  {self.platform} {query.window}: window {self.windows_done}/"
                         f"{self.total_windows}, {self._window_pages:,} pages, "
                         f"{self._window_records:,} records (total {self.records:,} records, "
                         f"{self.queries_done:,}/{self.total_queries:,} queries)")
        self._refresh()

    def retry(self, reason: str, wait: float) -> None:
        self.retries += 1
        if reason == "401: new token":
            line = f"  {self.platform}: 401, fetching a new token and trying again"
        elif reason.isdigit():
            why = "as the platform asked" if reason in ("429", "503") else "backing off"
            line = f"  {self.platform}: HTTP {reason}, retrying in {wait:.1f} s ({why})"
        else:
            line = f"  {self.platform}: {reason}, retrying in {wait:.1f} s"
        if self._bar is not None:
            self._bar.console.print(line)
            self._refresh()
        else:
            self.say(line)

    def note(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            self.say(line)
