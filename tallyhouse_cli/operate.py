"""Running tallyhouse unattended: `up`, `down`, `status`, `backup`, `restore`, `prune`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tallyhouse import db


def _say(message: str = "") -> None:
    print(message, flush=True)


def _names(values: list[str] | None) -> list[str]:
    return [n.strip() for value in values or () for n in value.split(",") if n.strip()]


def _ports(values: list[str] | None) -> dict[str, int]:
    ports = {}
    for value in values or ():
        name, _, port = value.partition("=")
        if not port.isdigit():
            raise ValueError(f"--port takes NAME=PORT, e.g. ui=3001 (not {value!r})")
        ports[name.strip()] = int(port)
    return ports


# ---------------------------------------------------------------------------- up / down

def cmd_up(args: argparse.Namespace) -> int:
    from tallyhouse_cli import services

    try:
        chosen = services.select(_names(args.only), _names(args.without), _ports(args.port))
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    if not chosen:
        _say("error: no service selected")
        return 2
    _say("tallyhouse up")
    where = (f"embedded PostgreSQL in {db.pgdata_dir()}" if db.is_embedded()
             else db.redact(db.database_url()))
    _say(f"  database:   {where}")
    try:
        services.prepare()
    except Exception as exc:  # noqa: BLE001 - said in one line
        _say(f"error: the database or the dbt project is not ready: {db.redact(str(exc))}")
        return 1
    if not services.receiver_configured() and "receiver" not in chosen:
        _say("  receiver:   not started (no platform secret set: TALLYHOUSE_HOTMART_HOTTOK, "
             "TALLYHOUSE_KIWIFY_TOKEN, TALLYHOUSE_EDUZZ_KEY, TALLYHOUSE_PIX_TOKEN)")
    _say(f"  logs:       {services.logs_dir()}/<service>.log (rotated at "
         f"{services.LOG_MAX_BYTES}, {services.LOG_BACKUPS} kept)")
    if args.foreground:
        _say("  supervisor: in the foreground; stop with SIGTERM (systemd stop, Ctrl+C)")
        services.foreground(chosen)
        return 0  # pragma: no cover - replaced by supervisord
    try:
        late = services.start(chosen, say=_say, timeout=args.timeout)
    except RuntimeError as exc:
        _say(f"error: {exc}")
        return 1
    if late:
        for name, problem in late.items():
            _say(f"  {name:<11} NOT UP after {args.timeout:.0f}s: {problem}")
        _say("Some services did not come up; `tallyhouse status` shows them, "
             "`tallyhouse down` stops everything.")
        return 1
    _say(f"Up: {', '.join(chosen)}. Supervised: a service that exits is started again. "
         "`tallyhouse status` shows their health, `tallyhouse down` stops them.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from tallyhouse_cli import services

    names = _names(args.only)
    if args.without:
        names = [n for n in services.expected() if n not in _names(args.without)]
    _say("tallyhouse down")
    if services.client() is None and not names:
        _say("  no supervisor running for this home")
    swept = services.stop(names or None, say=_say)
    if swept:
        _say(f"  ended {len(swept)} process(es) left behind: {', '.join(map(str, swept))}")
    if not names and db.is_embedded() and not args.keep_database:
        _say(f"  database:   {'stopped' if db.stop_embedded() else 'was not running'}")
    return 0


# ---------------------------------------------------------------------------- status

def cmd_status(args: argparse.Namespace) -> int:
    from tallyhouse_cli import status

    found = status.gather()
    if args.json:
        print(json.dumps(found, indent=2, default=str))
    else:
        status.render(found, sys.stdout)
    if args.live:
        return 0 if found["live"] else 1
    return 0 if found["ok"] else 1


# ---------------------------------------------------------------------------- backup

def cmd_backup(args: argparse.Namespace) -> int:
    from tallyhouse import backup

    target = Path(args.to).resolve() if args.to else backup.backups_dir()
    _say(f"Backing up the warehouse, landing, reports and run history into {target} ...")
    try:
        done = backup.backup(target, write_key=not args.no_key, say=_say)
    except (db.DatabaseError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    size = sum(done.parts.values())
    _say(f"Wrote {done.folder}  ({size / (1 << 20):,.1f} MiB in {done.seconds:.1f}s: "
         + ", ".join(f"{name} {b / (1 << 20):,.1f} MiB" for name, b in done.parts.items())
         + ")")
    if done.key_file:
        _say(f"Pseudonym key: {done.key_file}  (mode 600)")
        _say("  WARNING: this file is the key behind every customer_key. Keep it apart from "
             "the backups (a password manager, a vault): with it and a list of e-mails anyone "
             "can tell whose rows the marts hold; without it a restore gives every customer "
             "a new key. Restore with --key FILE.")
    elif done.key_source:
        _say(f"Pseudonym key: not written (it comes from {done.key_source}; keep that secret "
             "where you keep it — a restore needs the same value to keep customer keys).")
    if not args.no_prune:
        from tallyhouse.retention import Pruned, Retention, prune_backups

        pruned = Pruned()
        prune_backups(target, Retention.from_env().backups, pruned, dry_run=False)
        if pruned.backups:
            _say(f"Retention: removed {len(pruned.backups)} older backup file(s)/folder(s) "
                 f"(TALLYHOUSE_KEEP_BACKUPS={Retention.from_env().backups}).")
    print(done.folder)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from tallyhouse import backup
    from tallyhouse_cli import services

    folder = Path(args.path)
    # the UI, the daemon and the receiver keep the run history's files and the landing
    # open: what they wrote after the restore moved those aside would be lost there. Found
    # by the supervisor answering or by a process carrying this home's services mark (a
    # stale pid file alone is not a running service)
    running = services.marked_processes()
    if services.client() is not None or running:
        _say("error: the services of this home are running"
             + (f" (pids {', '.join(map(str, running))})" if running else "")
             + ": stop them with `tallyhouse down`, restore, then `tallyhouse up`.")
        return 2
    _say(f"Restoring {folder.resolve()} into "
         + (f"the embedded PostgreSQL in {db.pgdata_dir()}" if db.is_embedded()
            else db.redact(db.database_url())) + " and this home ...")
    try:
        done = backup.restore(folder, force=args.force,
                              key_file=Path(args.key) if args.key else None, say=_say)
    except backup.RestoreRefused as exc:
        _say(f"error: {exc}")
        return 2
    except (db.DatabaseError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    manifest = done["manifest"]
    marts = manifest.get("marts", {})
    _say(f"Restored the backup of {manifest['created_at']}: {len(marts)} marts, "
         f"{sum(marts.values()):,} rows; landing, reports and run history.")
    for note in done["notes"]:
        _say(f"  note: {note}")
    _say("Next: `tallyhouse status`; the next run carries on from the restored state.")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from orchestration.run import prune_run_history
    from tallyhouse import retention
    from tallyhouse.config import default_landing_dir

    try:
        settings = retention.Retention.from_env()
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    _say("Retention" + (" (dry run: nothing changes)" if args.dry_run else "") + ":")
    for line in settings.lines():
        _say(f"  {line}")
    landing = Path(args.landing).resolve() if args.landing else default_landing_dir()
    url = db.database_url()
    done = retention.prune(url, settings, landing=landing, dry_run=args.dry_run,
                           prune_runs=prune_run_history, say=_say)
    verb = "would" if args.dry_run else ""
    _say(f"Backups {verb} removed: {len(done.backups)}; report folders: {len(done.reports)}; "
         f"log files and dbt target folders: {len(done.logs)}; Dagster runs: {done.runs}; "
         f"{done.freed_bytes / (1 << 20):,.1f} MiB freed.")
    _say(f"Landing files {verb} moved to {landing / retention.ARCHIVE}: {len(done.archived)}"
         + (f" (e.g. {done.archived[0]})" if done.archived else ""))
    return 0


# ---------------------------------------------------------------------------- parsers

def add_parsers(sub) -> None:
    from tallyhouse.retention import SETTINGS
    from tallyhouse_cli.services import DEFAULT_PORTS, SERVICES

    listed = ", ".join(SERVICES)
    ports = ", ".join(f"{n}={p}" for n, p in DEFAULT_PORTS.items())
    up = sub.add_parser(
        "up", help="start the database and every service under one supervisor",
        description=f"Start the embedded database (if it is the one in use) and the services "
                    f"({listed}; the receiver only when a platform's secret is set) under "
                    "supervisord, which restarts a service that exits and logs each to its "
                    "own rotating file in .tallyhouse/logs/. Every service listens on "
                    "127.0.0.1 only.")
    up.add_argument("--only", action="append", metavar="NAMES",
                    help=f"start only these services (comma-separated: {listed})")
    up.add_argument("--without", action="append", metavar="NAMES",
                    help="start every service but these (comma-separated)")
    up.add_argument("--port", action="append", metavar="NAME=PORT",
                    help=f"a service's port (repeatable; default: {ports})")
    up.add_argument("--timeout", type=float, default=180.0,
                    help="seconds to wait for every service to answer")
    up.add_argument("--foreground", action="store_true",
                    help="run the supervisor in the foreground (systemd, a container); "
                         "SIGTERM stops everything")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser(
        "down", help="stop every service, the supervisor and the embedded database",
        description="Stop the services (each one's whole process group), the supervisor, "
                    "any process they left behind, then the embedded database.")
    down.add_argument("--only", action="append", metavar="NAMES",
                      help="stop only these services (the others and the database stay up)")
    down.add_argument("--without", action="append", metavar="NAMES",
                      help="stop every service but these (the database stays up)")
    down.add_argument("--keep-database", action="store_true",
                      help="leave the embedded database running")
    down.set_defaults(func=cmd_down)

    st = sub.add_parser(
        "status", help="one screen: database, last and next run, services, feeds, disk",
        description="Whether everything is well: the database, the last run and the next "
                    "scheduled one, each service and its port, the receiver's last accepted "
                    "webhook per platform, each feed's last delivery against its freshness "
                    "window, disk, backups, the latest report. Exits 1 when something is "
                    "wrong (for monitoring), 0 when all is well.")
    st.add_argument("--json", action="store_true", help="the same as JSON")
    st.add_argument("--live", action="store_true",
                    help="exit 1 only when the database or a service is down (a container's "
                         "health check: a warehouse with no run yet, or a stale feed, is "
                         "alive); the screen is the same")
    st.set_defaults(func=cmd_status)

    bk = sub.add_parser(
        "backup", help="back up the warehouse, landing, reports and run history",
        description="A consistent backup, taken under the run lock: the warehouse (pg_dump "
                    "custom format), the landing folder with its archive, the reports and "
                    "the Dagster run history, in one folder tallyhouse-<UTC time>/ whose path "
                    "is printed last. The pseudonym key is written beside it, never in it. "
                    "Older backups beyond TALLYHOUSE_KEEP_BACKUPS are removed.")
    bk.add_argument("--to", metavar="DIR",
                    help="folder to write into (default: $TALLYHOUSE_BACKUP_DIR, else "
                         "backups/ in the home)")
    bk.add_argument("--no-key", action="store_true",
                    help="do not write the pseudonym key file beside the backup")
    bk.add_argument("--no-prune", action="store_true",
                    help="keep every older backup this time")
    bk.set_defaults(func=cmd_backup)

    rs = sub.add_parser(
        "restore", help="restore a backup into the warehouse in use and this home",
        description="Restore a backup folder into the warehouse in use (embedded, or "
                    "TALLYHOUSE_DATABASE_URL) and this home's landing, reports and run "
                    "history. They must be empty, unless --force: then the warehouse's "
                    "schemas are dropped and the folders moved aside to "
                    "before-restore-<time>/ (never deleted).")
    rs.add_argument("path", help="the backup folder (tallyhouse-<time>/)")
    rs.add_argument("--key", metavar="FILE",
                    help="the .pseudonym.key file written beside the backup: customer keys "
                         "stay as they were")
    rs.add_argument("--force", action="store_true",
                    help="replace a warehouse and folders that are not empty")
    rs.set_defaults(func=cmd_restore)

    settings = "; ".join(f"{name} ({default})" for name, default, _ in SETTINGS.values())
    pr = sub.add_parser(
        "prune", help="apply the retention: backups, reports, run history, logs, landing",
        description="Apply the retention settings (environment; default in brackets; 0 "
                    f"keeps forever): {settings}. Loaded landing files move to "
                    "landing/.archive/ — nothing unread moves, nothing in landing is deleted.")
    pr.add_argument("--dry-run", action="store_true", help="say what would change, change "
                                                           "nothing")
    pr.add_argument("--landing", metavar="DIR",
                    help="landing folder (default: landing/ in the home)")
    pr.set_defaults(func=cmd_prune)
