"""`tallyhouse status`: whether everything is well, on one screen (and as JSON).

Each part says what it found and, when something is wrong, one line of what is wrong; the
command exits non-zero when any part is wrong, for a monitor to call. Nothing here starts
anything: a stopped embedded database is reported stopped, not started to be measured.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from tallyhouse import db
from tallyhouse.config import default_landing_dir, home, reports_dir, state_dir

# the schedule runs daily: a last successful run older than this means runs stopped
RUN_STALE_AFTER = timedelta(hours=30)
DISK_LOW_FRACTION = 0.05
DISK_LOW_BYTES = 2 << 30
DAEMON_HEARTBEAT_STALE = timedelta(minutes=3)
BACKUP_STALE_AFTER = timedelta(days=3)


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f}s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 172800:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.1f} days"
    return f"in {text}" if future else f"{text} ago"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else None


# ---------------------------------------------------------------------------- parts

def database_part(problems: list[str]) -> tuple[dict, str | None]:
    part: dict = {"kind": "embedded" if db.is_embedded() else "external"}
    url = None
    if db.is_embedded():
        part["where"] = str(db.pgdata_dir())
        state = db.embedded_status()
        if not state.startswith("running"):
            part.update(up=False, state=state)
            problems.append("database: the embedded PostgreSQL is stopped (tallyhouse up)")
            return part, None
        url = db.database_url()
    else:
        url = db.database_url()
        part["where"] = db.redact(url)
    try:
        import psycopg2

        conn = psycopg2.connect(url, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("select pg_database_size(current_database()), "
                            "current_setting('server_version')")
                size, version = cur.fetchone()
        finally:
            conn.close()
        part.update(up=True, size_bytes=size, version=version)
    except Exception as exc:  # noqa: BLE001 - whatever stops a connection, said once
        part.update(up=False, error=db.redact(str(exc)).strip().splitlines()[0])
        problems.append(f"database: cannot connect ({part['error']})")
        return part, None
    return part, url


def runs_part(url: str | None, now: datetime, problems: list[str]) -> dict:
    """The last run of the job from Dagster's run history, its findings from the warehouse;
    the next scheduled run and whether the daemon that starts it is alive."""
    import dagster as dg

    from orchestration.constants import JOB_NAME
    from orchestration.run import dagster_home

    dagster_home()
    part: dict = {"history": str(state_dir() / "dagster")}
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=JOB_NAME), limit=20)
        finished = [r for r in records if r.dagster_run.is_finished]
        running = [r for r in records if not r.dagster_run.is_finished]
        last = finished[0] if finished else None
        succeeded = next((r for r in finished if r.dagster_run.status.value == "SUCCESS"), None)
        heartbeats = {}
        try:
            for kind, beat in instance.get_daemon_heartbeats().items():
                heartbeats[kind] = datetime.fromtimestamp(beat.timestamp, UTC)
        except Exception:  # noqa: BLE001 - an instance without daemon storage
            pass
    if running:
        part["in_progress"] = {"run_id": running[0].dagster_run.run_id,
                               "since": _iso(running[0].start_time and datetime.fromtimestamp(
                                   running[0].start_time, UTC))}
    if last is None:
        part["last"] = None
        problems.append("runs: no run yet (tallyhouse run)")
    else:
        started = datetime.fromtimestamp(last.start_time, UTC) if last.start_time else None
        ended = datetime.fromtimestamp(last.end_time, UTC) if last.end_time else None
        run = last.dagster_run
        part["last"] = {
            "run_id": run.run_id, "status": run.status.value,
            "trigger": run.tags.get("trigger", run.tags.get("dagster/schedule_name",
                                                            "command line")),
            "started_at": _iso(started), "ended_at": _iso(ended),
            "seconds": round((ended - started).total_seconds(), 1) if started and ended
            else None,
        }
        if url:
            part["last"].update(_findings(url, run.run_id))
        if run.status.value != "SUCCESS":
            problems.append(f"runs: the last run {run.run_id[:8]} {run.status.value.lower()} "
                            f"{_ago(ended, now)} (tallyhouse dev / the UI shows why)")
    if succeeded is not None:
        done = datetime.fromtimestamp(succeeded.end_time or succeeded.start_time, UTC)
        part["last_success_at"] = _iso(done)
        if now - done > RUN_STALE_AFTER:
            problems.append(f"runs: the last successful run ended {_ago(done, now)}")
    part["next"] = _next_schedule(now)
    part["daemon_heartbeats"] = {k: _iso(v) for k, v in heartbeats.items()}
    return part


def _findings(url: str, run_id: str) -> dict:
    try:
        with db.cursor(url) as cur:
            cur.execute("select to_regclass('marts.rpt_reconciliation_summary') is not null")
            if not cur.fetchone()[0]:
                return {}
            cur.execute("select count(*), count(*) filter (where not passed), "
                        "coalesce(sum(break_count), 0), count(*) filter (where not passed "
                        "and severity = 'ERROR') from marts.rpt_reconciliation_summary "
                        "where run_id = %s", (run_id,))
            checks, failed, breaks, structural = cur.fetchone()
    except db.DatabaseError:
        return {}
    return {"checks": checks, "checks_with_breaks": failed, "breaks": int(breaks),
            "structural_findings": structural}


def _next_schedule(now: datetime) -> dict:
    from zoneinfo import ZoneInfo

    from dagster._utils.schedules import cron_string_iterator

    from orchestration.defs.schedules.daily import BUSINESS_ZONE, daily_schedule

    ticks = cron_string_iterator(now.timestamp(), daily_schedule.cron_schedule, BUSINESS_ZONE)
    when = next(ticks)
    if when.timestamp() <= now.timestamp():
        when = next(ticks)
    local = when.astimezone(ZoneInfo(BUSINESS_ZONE))
    return {"schedule": daily_schedule.name, "at": _iso(when),
            "local": f"{local:%Y-%m-%d %H:%M} {BUSINESS_ZONE}",
            "full_pass": local.weekday() == 6}


def services_part(daemon_beats: dict, now: datetime, problems: list[str]) -> dict:
    from tallyhouse_cli import services

    wanted = services.expected()
    supervised = services.processes()
    part = {"supervisor": {"running": services.client() is not None,
                           "pid": services.supervisor_pid(),
                           "config": str(services.config_path())},
            "logs": str(services.logs_dir()), "services": {}}
    for name, svc in wanted.items():
        info = supervised.get(name, {})
        state = info.get("statename", "not started")
        entry = {"state": state.lower(), "port": svc.port, "pid": info.get("pid") or None,
                 "since": _iso(datetime.fromtimestamp(info["start"], UTC))
                 if info.get("start") and state == "RUNNING" else None}
        answering, body = services.http_health(name, svc.port) if svc.port else (None, None)
        entry["answering"] = answering
        healthy = state == "RUNNING" and answering is not False
        if name == "daemon":
            beats = [datetime.fromisoformat(v) for v in daemon_beats.values() if v]
            newest = max(beats) if beats else None
            entry["heartbeat"] = _iso(newest)
            if state == "RUNNING" and (newest is None or now - newest > DAEMON_HEARTBEAT_STALE):
                healthy = False
                entry["state"] = "running, no heartbeat"
        if name == "receiver" and isinstance(body, dict):
            entry["health"] = body
        entry["ok"] = healthy
        if not healthy:
            where = f" on port {svc.port}" if svc.port else ""
            problems.append(f"services: {name} is {entry['state']}{where}"
                            + ("" if state != "RUNNING" else " and does not answer"))
        part["services"][name] = entry
    return part


def receiver_part(service_entry: dict | None, landing: Path) -> dict:
    """Per platform: when a webhook was last accepted — from the running receiver, else from
    the newest file it wrote in landing/<platform>/."""
    from tallyhouse.receiver.platforms import PLATFORMS

    health = (service_entry or {}).get("health") or {}
    accepted = health.get("last_accepted") or {}
    configured = {n: bool(p.get("configured")) for n, p in health.get("platforms", {}).items()}
    part = {}
    for name in PLATFORMS:
        newest = None
        folder = landing / name
        if folder.is_dir():
            for path in folder.iterdir():
                if "-received-" in path.name or path.name.endswith(".open"):
                    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    newest = stamp if newest is None or stamp > newest else newest
        part[name] = {"configured": configured.get(name),
                      "last_accepted_at": accepted.get(name),
                      "last_received_file_at": _iso(newest),
                      "accepted_since_start": (health.get("platforms", {}).get(name) or {})
                      .get("accepted", 0) if health else None}
    return part


def feeds_part(url: str | None, landing: Path, now: datetime, problems: list[str]) -> dict:
    from tallyhouse.reconciliation.checks import freshness_hours
    from tallyhouse.sources import FEEDS

    windows = freshness_hours()
    last: dict[str, datetime] = {}
    if url:
        with db.cursor(url) as cur:
            cur.execute("select to_regclass('raw._manifest') is not null")
            if cur.fetchone()[0]:
                cur.execute("select feed, max(loaded_at) from raw._manifest where status = "
                            "'loaded' and records_landed > 0 group by feed")
                last = dict(cur.fetchall())
    part = {}
    for feed in FEEDS:
        when = last.get(feed.name)
        hours = windows.get(feed.name)
        stale = bool(when and hours and now - when > timedelta(hours=hours))
        part[feed.name] = {"source": feed.source, "last_delivery_at": _iso(when),
                           "window_hours": hours, "stale": stale}
        if stale:
            problems.append(f"feeds: no new {feed.name} data for {_ago(when, now)[:-4]} "
                            f"(window {hours:g} h)")
    try:
        from orchestration.defs.sensors.new_landing_files import new_files

        known = set()
        if url:
            with db.cursor(url) as cur:
                cur.execute("select to_regclass('raw._manifest') is not null")
                if cur.fetchone()[0]:
                    cur.execute("select file_name from raw._manifest")
                    known = {name for (name,) in cur.fetchall()}
        waiting = len(new_files(landing, known)) if landing.is_dir() else 0
    except Exception:  # noqa: BLE001 - informative only
        waiting = None
    return {"feeds": part, "files_waiting": waiting}


def disk_part(problems: list[str]) -> dict:
    usage = shutil.disk_usage(home())
    part = {"path": str(home()), "free_bytes": usage.free, "total_bytes": usage.total,
            "free_fraction": round(usage.free / usage.total, 3)}
    if usage.free < DISK_LOW_BYTES or usage.free / usage.total < DISK_LOW_FRACTION:
        problems.append(f"disk: only {usage.free / (1 << 30):.1f} GiB free on {home()}")
    return part


def backups_part(now: datetime, problems: list[str]) -> dict:
    from tallyhouse.backup import backups_dir

    root = backups_dir()
    found = sorted((p for p in root.glob("tallyhouse-*") if p.is_dir()), reverse=True) \
        if root.is_dir() else []
    newest = None
    if found:
        try:
            newest = datetime.strptime(found[0].name.removeprefix("tallyhouse-"),
                                       "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            newest = None
    if newest and now - newest > BACKUP_STALE_AFTER:
        problems.append(f"backups: the newest is {_ago(newest, now)} old ({found[0]})")
    return {"folder": str(root), "count": len(found), "newest": str(found[0]) if found else None,
            "newest_at": _iso(newest)}


def report_part() -> dict:
    root = reports_dir()
    reports = sorted(root.glob("*/reconciliation.html")) if root.is_dir() else []
    return {"latest": str(reports[-1]) if reports else None, "folder": str(root)}


def gather(now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    problems: list[str] = []
    landing = default_landing_dir()
    database, url = database_part(problems)
    runs = runs_part(url, now, problems)
    # liveness (a container's health check): the database and the services, nothing about
    # the data — a warehouse that has not run yet, or a quiet feed, is alive
    live_problems = [p for p in problems if p.startswith("database:")]
    svc = services_part(runs.get("daemon_heartbeats", {}), now, live_problems)
    problems.extend(p for p in live_problems if not p.startswith("database:"))
    found = {
        "checked_at": _iso(now), "home": str(home()),
        "database": database, "runs": runs, "services": svc,
        "receiver": receiver_part(svc["services"].get("receiver"), landing),
        "feeds": feeds_part(url, landing, now, problems),
        "disk": disk_part(problems), "backups": backups_part(now, problems),
        "report": report_part(),
    }
    found["problems"] = problems
    found["ok"] = not problems
    found["live"] = not live_problems
    found["live_problems"] = live_problems
    return found


# ---------------------------------------------------------------------------- screen

def _local(iso: str | None) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def render(found: dict, out: TextIO) -> None:
    now = datetime.fromisoformat(found["checked_at"])

    def w(text: str = "") -> None:
        out.write(text + "\n")

    def mark(ok: bool) -> str:
        return "ok  " if ok else "FAIL"

    def ago(iso: str | None) -> str:
        return _ago(datetime.fromisoformat(iso), now) if iso else "never"

    verdict = "all well" if found["ok"] else f"{len(found['problems'])} problem(s)"
    w(f"tallyhouse status — {verdict} — {_local(found['checked_at'])} — home {found['home']}")
    database = found["database"]
    if database.get("up"):
        w(f"  {mark(True)} database   {database['kind']} PostgreSQL {database.get('version')}, "
          f"{database['size_bytes'] / (1 << 20):,.0f} MiB ({database['where']})")
    else:
        w(f"  {mark(False)} database   {database.get('state') or database.get('error')} "
          f"({database['where']})")
    runs = found["runs"]
    last = runs.get("last")
    if last:
        ok = last["status"] == "SUCCESS"
        findings = (f", {last['checks']} checks, {last['checks_with_breaks']} with breaks, "
                    f"{last['breaks']:,} breaks" if "checks" in last else "")
        seconds = f" in {last['seconds']:.0f}s" if last.get("seconds") is not None else ""
        w(f"  {mark(ok)} last run   {last['status'].lower()}{seconds}, ended "
          f"{_local(last['ended_at'])} ({ago(last['ended_at'])}), "
          f"{last['trigger']}{findings}")
    else:
        w(f"  {mark(False)} last run   none yet (tallyhouse run)")
    if runs.get("in_progress"):
        w(f"       in progress: run {runs['in_progress']['run_id'][:8]} since "
          f"{_local(runs['in_progress']['since'])}")
    nxt = runs["next"]
    w(f"       next run   {nxt['local']} ({_ago(datetime.fromisoformat(nxt['at']), now)}; "
      f"{nxt['schedule']}{', full pass' if nxt['full_pass'] else ''}) — started by the "
      "daemon")
    svc = found["services"]
    sup = svc["supervisor"]
    supervisor = f"running (pid {sup['pid']})" if sup["running"] else "not running"
    w(f"       services   supervisor {supervisor}; logs in {svc['logs']}")
    for name, entry in svc["services"].items():
        port = f"127.0.0.1:{entry['port']}" if entry["port"] else "—"
        extra = ""
        if name == "daemon" and entry.get("heartbeat"):
            extra = f", heartbeat {_ago(datetime.fromisoformat(entry['heartbeat']), now)}"
        since = f" since {_local(entry['since'])}" if entry.get("since") else ""
        w(f"  {mark(entry['ok'])}   {name:<11} {entry['state']:<14} {port:<16}{since}{extra}")
    receiver = found["receiver"]
    if "receiver" in svc["services"] or any(p["last_received_file_at"]
                                            for p in receiver.values()):
        parts = []
        for platform, entry in receiver.items():
            when = entry["last_accepted_at"] or entry["last_received_file_at"]
            parts.append(f"{platform} {ago(when)}")
        w(f"       webhooks   last accepted: {', '.join(parts)}")
    feeds = found["feeds"]
    stale = [n for n, f in feeds["feeds"].items() if f["stale"]]
    delivered = {n: f for n, f in feeds["feeds"].items() if f["last_delivery_at"]}
    w(f"  {mark(not stale)} feeds      {len(delivered)} delivering, {len(stale)} stale"
      + (f"; {feeds['files_waiting']} file(s) waiting to load" if feeds["files_waiting"] else ""))
    for name, feed in feeds["feeds"].items():
        if not feed["last_delivery_at"]:
            continue
        when = datetime.fromisoformat(feed["last_delivery_at"])
        window = f"window {feed['window_hours']:g} h" if feed["window_hours"] else "no window"
        w(f"  {mark(not feed['stale'])}   {name:<26} last {_ago(when, now):<14} ({window})"
          + ("  STALE" if feed["stale"] else ""))
    disk = found["disk"]
    low = any(p.startswith("disk:") for p in found["problems"])
    w(f"  {mark(not low)} disk       {disk['free_bytes'] / (1 << 30):,.1f} GiB free of "
      f"{disk['total_bytes'] / (1 << 30):,.0f} GiB ({disk['free_fraction']:.0%})")
    backups = found["backups"]
    old = any(p.startswith("backups:") for p in found["problems"])
    if backups["newest"]:
        w(f"  {mark(not old)} backups    {backups['count']}, newest "
          f"{ago(backups['newest_at'])}"
          f" ({backups['newest']})")
    else:
        w(f"       backups    none yet in {backups['folder']} (tallyhouse backup)")
    w(f"       report     {found['report']['latest'] or 'none yet'}")
    for problem in found["problems"]:
        w(f"  ! {problem}")
