"""``tallyhouse backfill``: the seller's history through a platform's sales API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

EXIT_BUSY = 75  # as `tallyhouse run --no-wait`: try again later


def add_parser(sub) -> argparse.ArgumentParser:
    from tallyhouse.backfill import DEFAULT_TRAILING_DAYS

    parser = sub.add_parser(
        "backfill", help="land a platform's sales history from its API into landing/",
        description="Ask the platform's sales API for every sale of a period (in windows "
                    "the API accepts, every status, every page) and land each page in "
                    "landing/<platform>/ for the loaders. Resumes where a killed backfill "
                    "stopped; a second backfill of the same period lands nothing new. "
                    "Credentials come from the environment (see the README, \"Bring your "
                    "history\").")
    parser.add_argument("platform", choices=["hotmart", "kiwify", "eduzz"])
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--since", type=date.fromisoformat,
                      help="first day of the period, YYYY-MM-DD (business time zone)")
    when.add_argument("--trailing-days", type=int, metavar="N",
                      help="instead of --since: the daily re-sync of the last N days "
                           f"(by update date where the API can; the schedule uses "
                           f"{DEFAULT_TRAILING_DAYS})")
    parser.add_argument("--until", type=date.fromisoformat,
                        help="last day of the period (default: today)")
    parser.add_argument("--landing", help="landing folder (default: landing/ in the home)")
    parser.add_argument("--page-size", type=int, help="records per page asked (default 100)")
    parser.add_argument("--rate", type=float, metavar="PER_SECOND",
                        help="at most this many requests a second (default: hotmart 6, "
                             "kiwify 2, eduzz 0.5; 0 = no limit)")
    parser.add_argument("--restart", action="store_true",
                        help="ignore the checkpoint of an unfinished backfill of the same "
                             "period and start it over")
    return parser


def cmd_backfill(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    from tallyhouse import backfill
    from tallyhouse.config import default_landing_dir

    landing = Path(args.landing).resolve() if args.landing else default_landing_dir()
    options = {"page_size": args.page_size, "requests_per_second": args.rate,
               "restart": args.restart, "say": say}
    try:
        if args.trailing_days is not None:
            result = backfill.trailing_resync(args.platform, landing, args.trailing_days,
                                              until=args.until, **options)
        else:
            until = args.until
            if until is None:
                from tallyhouse.backfill.runner import business_zone, today

                until = today(business_zone(backfill.Options(
                    args.platform, args.since, args.since, landing)))
            result = backfill.run_backfill(backfill.Options(
                args.platform, args.since, until, landing, **options))
    except backfill.MissingCredentials as exc:
        say(f"tallyhouse backfill: credentials missing: {exc}")
        return 2
    except backfill.Busy as exc:
        say(f"tallyhouse backfill {args.platform}: {exc}; try again when it ends")
        return EXIT_BUSY
    except ValueError as exc:
        say(f"tallyhouse backfill: {exc}")
        return 2
    except backfill.BackfillError as exc:
        say(f"tallyhouse backfill {args.platform} stopped: {exc}")
        say("  What was landed stays; run the same command again to resume.")
        return 1
    print_summary(result, say)
    return 0


def print_summary(result, say: Callable[[str], None] = print) -> None:
    if not sys.stdout.isatty():
        for line in result.lines():
            say(line)
        say("Next: `tallyhouse run` loads the pages (records already landed are skipped).")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Backfill {result.platform} ({result.mode}) "
                        f"{result.since}..{result.until}", title_justify="left")
    for column in ("feed", "pages", "files", "records"):
        table.add_column(column, justify="left" if column == "feed" else "right")
    for feed, totals in sorted(result.feeds.items()):
        table.add_row(feed, f"{totals.pages:,}", f"{totals.files:,}", f"{totals.records:,}")
    console = Console()
    console.print(table)
    retries = ", ".join(f"{n} × {why}" for why, n in sorted(result.retries.items())) or "none"
    console.print(f"{result.windows} windows, {result.queries:,} queries, "
                  f"{result.requests:,} requests; retries: {retries} "
                  f"(waited {result.waited_seconds:.1f} s)")
    if result.resumed_at_query is not None:
        console.print(f"Resumed at query {result.resumed_at_query + 1:,} of {result.queries:,}.")
    console.print(f"{result.records:,} records in {result.seconds:.1f} s: "
                  f"{result.records_per_second:,.0f} records/s, landed in "
                  f"{result.landing / result.platform}")
    console.print("Next: `tallyhouse run` loads the pages (records already landed are "
                  "skipped).")
