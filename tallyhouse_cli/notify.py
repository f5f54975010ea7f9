"""``tallyhouse notify``: the digest's channels, tried by hand.

* ``tallyhouse notify --test``: a test message to every configured channel; one line per
  channel (delivered or not, and why), never a URL or a password; exit 1 if one failed.
* ``tallyhouse notify``: the digest of the latest run, sent again.
* ``tallyhouse notify --print``: that digest on stdout (subject and body), nothing sent.
"""

from __future__ import annotations

import argparse

from tallyhouse.notify import settings as notify_settings


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "notify", help="the digest's channels: --test sends a test message to each",
        description="Channels come from the environment: TALLYHOUSE_SMTP_URL "
                    "(smtp://[user:password@]host:port?security=none|starttls|ssl), "
                    "TALLYHOUSE_NOTIFY_EMAIL_FROM, TALLYHOUSE_NOTIFY_EMAIL_TO, "
                    "TALLYHOUSE_NOTIFY_SLACK_URL, TALLYHOUSE_NOTIFY_TEAMS_URL, "
                    "TALLYHOUSE_NOTIFY_GCHAT_URL (README: For finance).")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--test", action="store_true",
                      help="send a test message to every configured channel")
    what.add_argument("--print", dest="print_only", action="store_true",
                      help="print the latest run's digest (subject and body); send nothing")
    parser.add_argument("--run", dest="run_id", help="a run id (default: the latest run)")
    parser.set_defaults(func=cmd_notify)
    return parser


def _say(text: str = "") -> None:
    print(text, flush=True)


def _latest_run(url: str) -> str | None:
    from tallyhouse import db

    with db.cursor(url) as cur:
        cur.execute("select to_regclass('marts.rpt_reconciliation_summary') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute("select run_id from marts.rpt_reconciliation_summary group by run_id "
                    "order by max(run_at) desc limit 1")
        found = cur.fetchone()
    return found[0] if found else None


def cmd_notify(args: argparse.Namespace) -> int:
    from tallyhouse import db, notify

    settings = notify_settings.from_env()
    for problem in settings.problems:
        _say(f"warning: {problem}")
    if args.test:
        channels = settings.channels()
        if not channels:
            _say("No channel is configured: set TALLYHOUSE_SMTP_URL with "
                 "TALLYHOUSE_NOTIFY_EMAIL_FROM and _TO, or a TALLYHOUSE_NOTIFY_*_URL.")
            return 2
        try:
            url = db.database_url()
        except Exception:  # noqa: BLE001 - a test message needs no database
            url = None
        outcome = notify.send_test(settings, url=url)
        for d in outcome.deliveries:
            state = "delivered" if d.delivered else "NOT delivered"
            _say(f"  {d.channel:6} {state} ({d.detail}; {d.attempts} attempt(s))")
        return 0 if outcome.ok else 1
    url = db.database_url()
    run_id = args.run_id or _latest_run(url)
    if run_id is None:
        _say("No reconciliation run yet: tallyhouse run first.")
        return 2
    if args.print_only:
        message = notify.digest_for(url, run_id, settings)
        _say(f"Subject: {message.subject}")
        _say()
        _say(message.text())
        return 0
    outcome = notify.send_digest(url, run_id, settings)
    if not outcome.deliveries:
        _say(f"Nothing sent: {outcome.skipped}.")
        return 2 if not settings.channels() else 0
    _say(f"Digest of run {run_id[:8]}: {outcome.message.subject}")
    for d in outcome.deliveries:
        state = "delivered" if d.delivered else "NOT delivered"
        _say(f"  {d.channel:6} {state} ({d.detail}; {d.attempts} attempt(s))")
    return 0 if outcome.ok else 1
