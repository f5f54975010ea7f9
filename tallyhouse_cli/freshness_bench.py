"""``tallyhouse bench --freshness``: how long a webhook takes to reach the marts.

Against a warehouse that is already built (the benchmark's own database), this starts what
a seller runs in production — a real receiver (``tallyhouse receive``) and a real Dagster
daemon whose new-files sensor starts the job — and posts signed Hotmart webhooks to the
receiver at a steady rate on loopback. Each webhook is a sale of its own (its own
transaction and product), so the time from the receiver's 200 to

- its transaction being a row of ``marts.fct_transactions``, and
- its product's day being a row of ``marts.agg_daily_sales`` (what the dashboards read)

is measured per webhook, by polling both marts once a second through their indexes. The
path each webhook takes: the receiver keeps it in an open file until the file is rotated
(``--rotate-seconds``), the sensor sees the closed file at its next look
(``TALLYHOUSE_SENSOR_SECONDS``), the run is queued and started (Dagster's queue looks every
5 s), and the run loads, builds what changed (a micro-run), checks and reports.

A first webhook goes through the whole path before the clock starts (the daemon's start-up
and the first run are not what a seller waits for on an ordinary day).
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestration.defs.sensors.new_landing_files import sensor_seconds as sensor_default
from tallyhouse import db, runlock
from tallyhouse.config import project_root
from tallyhouse.receiver.app import rotate_seconds_from_env
from tallyhouse.receiver.loadgen import HOTMART_EXAMPLE
from tallyhouse_cli.bench import p95
from tallyhouse_cli.receiver_bench import BENCH_HOTTOK, free_port, start_receiver

DEFAULT_RATE = 5.0  # webhooks per second
DEFAULT_SECONDS = 600.0
POLL_SECONDS = 1.0
SETTLE_SECONDS = 600.0  # how long to wait, after the last post, for the marts to catch up


def probe_body(token: str, n: int, now: datetime) -> tuple[str, bytes]:
    """The n-th probe: a Hotmart PURCHASE_APPROVED of its own transaction and product."""
    event = copy.deepcopy(HOTMART_EXAMPLE)
    transaction = f"HPFRESH{token}{n:06d}"
    millis = int(now.timestamp() * 1000)
    event["id"] = f"fresh-{token}-{n}"
    event["creation_date"] = millis
    data = event["data"]
    data["product"]["id"] = 9_000_000 + n
    data["product"]["name"] = f"Freshness probe {token} {n}"
    data["purchase"].update(transaction=transaction, order_date=millis, approved_date=millis)
    return transaction, json.dumps(event, separators=(",", ":")).encode()


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "p50_s": None, "p95_s": None, "max_s": None}
    ordered = sorted(values)
    return {"count": len(ordered), "p50_s": round(statistics.median(ordered), 1),
            "p95_s": round(p95(ordered), 1), "max_s": round(ordered[-1], 1)}


class Poster(threading.Thread):
    """Posts the probes at a steady rate on one keep-alive connection; notes each 200."""

    def __init__(self, port: int, token: str, rate: float, seconds: float, first: int = 0):
        super().__init__(daemon=True, name="freshness-poster")
        self.port, self.token, self.rate, self.seconds = port, token, rate, seconds
        self.first = first
        self.acked: dict[str, float] = {}  # transaction -> time.monotonic() of the 200
        self.failed = 0

    def post(self, connection: http.client.HTTPConnection, n: int
             ) -> tuple[http.client.HTTPConnection, bool]:
        transaction, body = probe_body(self.token, n, datetime.now(UTC))
        for _attempt in range(2):
            try:
                connection.request("POST", "/webhooks/hotmart", body=body, headers={
                    "Content-Type": "application/json", "X-HOTMART-HOTTOK": BENCH_HOTTOK})
                answer = connection.getresponse()
                answer.read()
                if answer.status == 200:
                    self.acked[transaction] = time.monotonic()
                    return connection, True
                return connection, False
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        return connection, False

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        started = time.monotonic()
        total = max(1, round(self.rate * self.seconds))
        try:
            for i in range(total):
                due = started + i / self.rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                connection, ok = self.post(connection, self.first + i)
                self.failed += 0 if ok else 1
        finally:
            connection.close()


def in_facts(url: str, transactions: list[str]) -> dict[str, tuple]:
    """Which of ``transactions`` are rows of fct_transactions, with their product and day
    (through the mart's transaction_key index)."""
    if not transactions:
        return {}
    with db.cursor(url) as cur:
        cur.execute(
            """
            select platform_transaction_id, product_key, order_date
            from marts.fct_transactions
            where transaction_key = any(array(
                select md5('hotmart:' || t) from unnest(%s::text[]) as t))
            """, (transactions,))
        return {t: (key, day) for t, key, day in cur.fetchall()}


def in_aggregate(url: str, products: dict[str, tuple]) -> set[str]:
    """Which of ``products`` (transaction -> (product_key, order_date)) are rows of
    agg_daily_sales (through its currency and day index)."""
    if not products:
        return set()
    days = sorted({day for _key, day in products.values()})
    with db.cursor(url) as cur:
        cur.execute(
            """
            select product_key, order_date from marts.agg_daily_sales
            where currency_code = 'BRL' and order_date = any(%s) and product_key = any(%s)
            """, (days, [key for key, _day in products.values()]))
        rows = set(cur.fetchall())
    return {t for t, pair in products.items() if pair in rows}


class Watcher:
    """Polls the marts until every acknowledged probe is in both, or time runs out."""

    def __init__(self, url: str, poster: Poster):
        self.url, self.poster = url, poster
        self.in_facts: dict[str, float] = {}
        self.in_aggregate: dict[str, float] = {}
        self.waiting_facts: set[str] = set()
        self.products: dict[str, tuple] = {}  # seen in facts, not yet in the aggregate

    def poll(self) -> None:
        acked = dict(self.poster.acked)
        self.waiting_facts |= {t for t in acked if t not in self.in_facts}
        found = in_facts(self.url, sorted(self.waiting_facts))
        now = time.monotonic()
        for t, pair in found.items():
            self.in_facts[t] = now
            self.waiting_facts.discard(t)
            self.products[t] = pair
        aggregated = in_aggregate(self.url, self.products)
        now = time.monotonic()
        for t in aggregated:
            self.in_aggregate[t] = now
            self.products.pop(t, None)

    def done(self) -> bool:
        acked = self.poster.acked
        return (not self.poster.is_alive() and len(self.in_facts) >= len(acked)
                and len(self.in_aggregate) >= len(acked))

    def watch(self, until: float, say) -> None:
        last_said = 0.0
        while time.monotonic() < until:
            started = time.monotonic()
            self.poll()
            if self.done():
                return
            if started - last_said >= 30:
                last_said = started
                say(f"  {len(self.poster.acked):,} acknowledged, {len(self.in_facts):,} in "
                    f"fct_transactions, {len(self.in_aggregate):,} in agg_daily_sales")
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


def start_daemon(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    from tallyhouse_cli.services import bin_dir

    command = [str(bin_dir() / "dagster-daemon"), "run", "-m", "orchestration.definitions"]
    handle = open(log_path, "ab")  # noqa: SIM115 - the daemon's own log, closed with it
    return subprocess.Popen(command, env=env, cwd=project_root(), stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM to the daemon's whole process group (the runs it launched with it), SIGKILL
    after ``grace``; the group is signalled even when the daemon itself already exited."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def run_history(storage: Path, since: float = 0.0) -> dict:
    """The runs the sensor started (since ``since``, epoch seconds): how many, how long each
    waited to start and ran."""
    path = storage / "history" / "runs.db"
    if not path.exists():
        return {"runs": 0}
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "select status, create_timestamp, start_time, end_time from runs").fetchall()
    finally:
        connection.close()
    waits, durations, statuses = [], [], {}
    counted = 0
    for status, created, start, end in rows:
        created_at = datetime.fromisoformat(str(created)).replace(tzinfo=UTC).timestamp()
        if created_at < since:
            continue
        counted += 1
        statuses[status] = statuses.get(status, 0) + 1
        if start:
            waits.append(max(0.0, start - created_at))
        if start and end:
            durations.append(end - start)
    return {"runs": counted, "statuses": statuses,
            "queued_s": _percentiles(waits), "run_s": _percentiles(durations)}


def wait_idle(url: str, storage: Path, timeout: float) -> None:
    """Until no run holds the warehouse's lock and none is queued (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = run_history(storage).get("statuses", {})
        busy = sum(n for s, n in statuses.items()
                   if s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"))
        if not busy and runlock.holder(url) is None:
            return
        time.sleep(2)


def run_freshness(url: str, landing: Path, workdir: Path, rate: float = DEFAULT_RATE,
                  seconds: float = DEFAULT_SECONDS,
                  rotate_seconds: float | None = None, sensor_seconds: int | None = None,
                  say=print) -> dict:
    """``rotate_seconds`` / ``sensor_seconds``: the receiver's and the sensor's own settings
    (TALLYHOUSE_RECEIVER_ROTATE_SECONDS, TALLYHOUSE_SENSOR_SECONDS) unless given."""
    from tallyhouse_cli.services import MARK_ENV, service_env

    rotate_seconds = rotate_seconds_from_env() if rotate_seconds is None else rotate_seconds
    sensor_seconds = sensor_default() if sensor_seconds is None else sensor_seconds

    if not (rate > 0 and seconds > 0 and rotate_seconds > 0):
        raise ValueError("freshness: --rate, --for-seconds and --rotate-seconds must be > 0")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "dagster"
    storage.mkdir(exist_ok=True)
    env = service_env()
    env.pop(MARK_ENV, None)  # not one of `tallyhouse up`'s services: `down` leaves it be
    # the benchmark's runs write their reports beside it and alert no one
    for name in [n for n in env if n.startswith("TALLYHOUSE_NOTIFY_")
                 or n in ("TALLYHOUSE_SMTP_URL", "TALLYHOUSE_REPORT_URL")]:
        del env[name]
    env["TALLYHOUSE_REPORTS_DIR"] = str(workdir / "reports")
    env.update({"TALLYHOUSE_DATABASE_URL": url, "TALLYHOUSE_LANDING": str(landing),
                "TALLYHOUSE_DAGSTER_STORAGE": str(storage),
                "TALLYHOUSE_SENSOR_SECONDS": str(sensor_seconds),
                "TALLYHOUSE_HOTMART_HOTTOK": BENCH_HOTTOK})
    (landing / "hotmart").mkdir(parents=True, exist_ok=True)
    token = datetime.now(UTC).strftime("%H%M%S")
    port = free_port()
    say(f"  receiver on 127.0.0.1:{port} (files rotated every {rotate_seconds:g} s), Dagster "
        f"daemon (sensor every {sensor_seconds} s); logs in {workdir}")
    receiver = start_receiver(landing, port, {k: v for k, v in env.items()
                                              if k.startswith("TALLYHOUSE_")},
                              "--rotate-seconds", f"{rotate_seconds:g}",
                              log_path=workdir / "receiver.log")
    daemon = None
    try:
        daemon = start_daemon(env, workdir / "daemon.log")
        say("  warm-up: one webhook through the whole path before the clock starts")
        warm = Poster(port, token, rate=1.0, seconds=1.0, first=999_999)
        warm.start()
        warm.join()
        if not warm.acked:
            raise RuntimeError("the receiver did not acknowledge the warm-up webhook")
        warming = Watcher(url, warm)
        warming.watch(time.monotonic() + SETTLE_SECONDS, say)
        if not warming.done():
            raise RuntimeError(f"the warm-up webhook did not reach the marts in "
                               f"{SETTLE_SECONDS:.0f} s: see {workdir}/daemon.log")
        say(f"  posting {rate:g} webhooks/s for {seconds:g} s")
        clock = time.time()
        poster = Poster(port, token, rate=rate, seconds=seconds)
        watcher = Watcher(url, poster)
        began = time.monotonic()
        poster.start()
        watcher.watch(began + seconds + SETTLE_SECONDS, say)
        poster.join()
        wait_idle(url, storage, timeout=SETTLE_SECONDS)
    finally:
        receiver.send_signal(signal.SIGTERM)
        try:
            receiver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            receiver.kill()
        if daemon is not None:
            stop_group(daemon)
    acked = poster.acked
    to_facts = [watcher.in_facts[t] - acked[t] for t in acked if t in watcher.in_facts]
    to_aggregate = [watcher.in_aggregate[t] - acked[t] for t in acked
                    if t in watcher.in_aggregate]
    history = run_history(storage, since=clock)
    return {"rate_per_s": rate, "seconds": seconds, "rotate_seconds": rotate_seconds,
            "sensor_seconds": sensor_seconds, "posted": round(rate * seconds),
            "acknowledged": len(acked), "failed": poster.failed,
            "fct_transactions": _percentiles(to_facts),
            "agg_daily_sales": _percentiles(to_aggregate),
            "never_seen": len(acked) - len(to_aggregate),
            "runs": history}
