"""One run at a time, for real: every run holds one PostgreSQL advisory lock from start
to end, on a connection of its own whose application_name says which run holds it.

Loads also take a transaction lock per file (``ingest.LOAD_LOCK_KEY``) and number their
rows under it, so even a load outside a run cannot make a build skip a record; this lock
is what keeps two whole runs (load, build, checks, report) from interleaving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg2
import psycopg2.extensions

from tallyhouse import db

RUN_LOCK_KEY = 7_312_000
APPLICATION_PREFIX = "tallyhouse run "


class RunInProgress(RuntimeError):
    """Another run holds the lock and the caller chose not to wait."""


@dataclass(frozen=True)
class Holder:
    run: str
    since: datetime | None
    pid: int

    def describe(self) -> str:
        since = f" since {self.since:%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        return f"run {self.run} (database session {self.pid}{since})"


def holder(url: str) -> Holder | None:
    """Who holds the run lock now, if anyone."""
    with db.cursor(url) as cur:
        cur.execute(
            """
            select a.application_name, a.backend_start, a.pid
            from pg_locks as l
            join pg_stat_activity as a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and l.objid = %s
              and l.classid = 0 and l.objsubid = 1 and a.datname = current_database()
            """,
            (RUN_LOCK_KEY,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    name, since, pid = row
    run = name[len(APPLICATION_PREFIX):] if name.startswith(APPLICATION_PREFIX) else name
    return Holder(run or "(unnamed)", since, pid)


# the lock this process holds, per database URL: a command that took it (``tallyhouse run``,
# ``tallyhouse forget``) runs the job inside it, and the job's own acquisition (join=True)
# is then the same lock, renamed after the job's run id, not a second one it would wait for
_HELD: dict[str, psycopg2.extensions.connection] = {}


@contextmanager
def run_lock(url: str, run_id: str, wait: bool = True,
             say: Callable[[str], None] = lambda _m: None, poll_seconds: float = 2.0,
             join: bool = False) -> Iterator[None]:
    """Hold the run lock for the duration of the block; wait for it or raise
    :class:`RunInProgress` when another run holds it. ``join``: when this process already
    holds it (the command that started the job), the block runs under that lock."""
    held = _HELD.get(url)
    if join and held is not None and not held.closed:
        with held.cursor() as cur:
            cur.execute("select set_config('application_name', %s, false)",
                        (APPLICATION_PREFIX + run_id,))
        yield
        return
    conn = psycopg2.connect(url, application_name=APPLICATION_PREFIX + run_id)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (RUN_LOCK_KEY,))
            acquired = cur.fetchone()[0]
            if not acquired:
                other = holder(url)
                described = other.describe() if other else "another run"
                if not wait:
                    raise RunInProgress(f"{described} is in progress; this run did not start")
                say(f"Waiting: {described} is in progress.")
                started = time.monotonic()
                while not acquired:
                    cur.execute("select pg_try_advisory_lock(%s)", (RUN_LOCK_KEY,))
                    acquired = cur.fetchone()[0]
                    if not acquired:
                        time.sleep(poll_seconds)
                say(f"The other run ended; this run starts after waiting "
                    f"{time.monotonic() - started:.0f} s.")
        _HELD[url] = conn
        yield
    finally:
        if _HELD.get(url) is conn:
            del _HELD[url]
        conn.close()  # closing the session releases the lock, also after a crash
