"""What `tallyhouse run` shows while it runs: a few progress lines (stage, feed, model count,
elapsed) instead of Dagster's and dbt's whole stream, which goes to a log file.

The quiet run points this process's standard output and error (file descriptors 1 and 2,
so dbt's lines, Dagster's console logger, warnings and child processes alike) at the log
file for the length of the job, and writes progress to the terminal it had before.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

STAGES = (("api_resync__", "resync"), ("load_", "load"), ("dbt_models", "build"),
          ("reconciliation_checks", "check"), ("reports__", "report"))


def stage_of(step_key: str | None) -> str:
    for prefix, stage in STAGES:
        if step_key and step_key.startswith(prefix):
            return stage
    return step_key or "run"


@contextmanager
def quiet_output(log_file: Path) -> Iterator[TextIO]:
    """Standard output and error into ``log_file`` for the block; yields a stream on the
    terminal (or pipe) they pointed at before."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    python_out, python_err = sys.stdout, sys.stderr
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    console = os.fdopen(os.dup(saved_out), "w", buffering=1)
    # Python's own streams too, whatever they were (a test's capture, say)
    log = os.fdopen(os.dup(log_fd), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout = sys.stderr = log
        yield console
    finally:
        log.flush()
        sys.stdout, sys.stderr = python_out, python_err
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        log.close()
        console.close()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d}"


class RunProgress:
    """Turns Dagster's events into progress: one line per stage when it ends (and a live
    line in a terminal while it runs: the feed being loaded, models built so far)."""

    def __init__(self, out: TextIO, dbt_models: int, interactive: bool | None = None):
        self.out = out
        self.started = time.monotonic()
        self.interactive = out.isatty() if interactive is None else interactive
        self.dbt_models = dbt_models
        self.stage: str | None = None
        self.counts: dict[str, int] = {}
        self.sources: list[str] = []
        self.names: dict[str | None, bool] = {}
        self.live = False
        self.warned: set[str] = set()

    # -- output ------------------------------------------------------------------------

    def line(self, stage: str, text: str) -> None:
        if self.live:
            self.out.write("\r\x1b[K")
            self.live = False
        self.out.write(f"  {_clock(time.monotonic() - self.started):>5}  {stage:<7} {text}\n")
        self.out.flush()

    def status(self, stage: str, text: str) -> None:
        if not self.interactive:
            return
        self.out.write(f"\r\x1b[K  {_clock(time.monotonic() - self.started):>5}  "
                       f"{stage:<7} {text}")
        self.out.flush()
        self.live = True

    # -- events ------------------------------------------------------------------------

    def __call__(self, event) -> None:
        kind = event.event_type_value
        stage = stage_of(event.step_key)
        if kind == "STEP_START":
            if stage != self.stage:
                self.finish_stage()
                self.stage = stage
                self.counts = {}
                self.sources = []
                self.names = {}
            self.step_started(stage, event.step_key)
        elif kind == "ASSET_MATERIALIZATION":
            self.materialized(stage, event)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            passed = bool(getattr(data, "passed", True))
            self.counts["checks"] = self.counts.get("checks", 0) + 1
            if not passed:
                self.counts["failed"] = self.counts.get("failed", 0) + 1
            if "carried_over_from_build_at" in (getattr(data, "metadata", None) or {}):
                self.counts["carried"] = self.counts.get("carried", 0) + 1
            # a reconciliation check is reported on each table (or feed) it reads: count it once
            name = getattr(data, "check_name", None)
            self.names.setdefault(name, True)
            self.names[name] = self.names[name] and passed
        elif kind == "LOG_WARNING":
            first = event.message.strip().splitlines()[0] if event.message.strip() else ""
            if first and first not in self.warned:
                self.warned.add(first)
                self.line(stage, "WARNING: " + (first if len(first) <= 300
                                                 else first[:297] + "..."))
        elif kind == "STEP_FAILURE":
            self.line(stage, f"FAILED at {event.step_key} (the log says why)")
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            self.finish_stage()
            self.stage = None

    def step_started(self, stage: str, step_key: str) -> None:
        if stage == "load":
            source = step_key.removeprefix("load_")
            self.sources.append(source)
            self.status(stage, f"{source} ({len(self.sources)} sources so far, "
                               f"{self.counts.get('landed', 0):,} records landed)")
        elif stage == "build":
            self.status(stage, f"dbt build: 0 of {self.dbt_models} models")
        elif stage == "check":
            self.status(stage, "reconciliation checks (Great Expectations)")
        else:
            self.status(stage, step_key)

    def materialized(self, stage: str, event) -> None:
        materialization = event.event_specific_data.materialization
        metadata = materialization.metadata or {}

        def number(name: str) -> int:
            value = metadata.get(name)
            return int(getattr(value, "value", value) or 0)

        if stage == "resync":
            resynced = metadata.get("resynced")
            if resynced is not None and getattr(resynced, "value", resynced):
                self.counts["resynced"] = self.counts.get("resynced", 0) + 1
        elif stage == "load":
            self.counts["files"] = self.counts.get("files", 0) + number("new_files")
            self.counts["landed"] = self.counts.get("landed", 0) + number("records_landed")
            self.status(stage, f"{self.sources[-1] if self.sources else ''} "
                               f"({self.counts['landed']:,} records landed)")
        elif stage == "build":
            self.counts["models"] = self.counts.get("models", 0) + 1
            rebuilt = metadata.get("rebuilt")
            if rebuilt is not None and not getattr(rebuilt, "value", rebuilt):
                self.counts["unchanged"] = self.counts.get("unchanged", 0) + 1
            self.status(stage, f"dbt build: {self.counts['models']} of {self.dbt_models} "
                               "models")

    def finish_stage(self) -> None:
        stage, counts = self.stage, self.counts
        if stage is None:
            return
        if stage == "resync":
            asked = counts.get("resynced", 0)
            self.line(stage, f"{asked} platform API(s) asked for the trailing days" if asked
                      else "no platform API asked (not a scheduled run, or no credentials)")
        elif stage == "load":
            self.line(stage, f"{len(self.sources)} sources: {counts.get('files', 0):,} new "
                             f"files, {counts.get('landed', 0):,} records landed")
        elif stage == "build":
            models = counts.get("models", 0)
            tests = counts.get("checks", 0)
            failed = counts.get("failed", 0)
            if models and counts.get("unchanged") == models:
                text = (f"nothing new: dbt not run, {models} models unchanged, {tests} test "
                        "results carried over")
            elif counts.get("unchanged"):
                unchanged, carried = counts["unchanged"], counts.get("carried", 0)
                text = (f"dbt build (only what changed): {models - unchanged} models built, "
                        f"{unchanged} unchanged; {tests - carried} tests run"
                        + (f" ({failed} did not pass)" if failed else " and passed")
                        + f", {carried} carried over")
            else:
                text = (f"dbt build: {models} of {self.dbt_models} models, {tests} tests"
                        + (f" ({failed} did not pass)" if failed else " passed"))
            self.line(stage, text)
        elif stage == "check":
            failed = sum(1 for passed in self.names.values() if not passed)
            self.line(stage, f"{len(self.names)} reconciliation checks, {failed} with findings")
        elif stage == "report":
            self.line(stage, "reconciliation report written")
        self.stage = None
