"""`tallyhouse spark start|stop|status|sync`: the local Spark the warehouse runs on with
TALLYHOUSE_ENGINE=spark, and the landing copied to it."""

from __future__ import annotations

import argparse

from tallyhouse.spark import server


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_spark(args: argparse.Namespace) -> int:
    import os

    remote = os.environ.get(server.THRIFT_URL_ENV, "").strip()
    try:
        if args.action == "status":
            if remote:
                where = server.parse_thrift_url(remote)
                state = "answers" if server.answers(where, 3.0) else "does not answer"
                _say(f"using {server.THRIFT_URL_ENV}: {where.host}:{where.port} {state}")
                return 0
            _say(f"local Spark in {server.spark_dir()}: {server.local_status()}")
            return 0
        if args.action == "start":
            if remote:
                _say(f"using {server.THRIFT_URL_ENV}: nothing to start")
                return 0
            where = server.start_local(progress=_say)
            _say(f"local Spark running on {where.host}:{where.port}")
            return 0
        if args.action == "stop":
            if remote:
                _say(f"using {server.THRIFT_URL_ENV}: nothing to stop")
                return 0
            _say("stopped" if server.stop_local() else "was not running")
            return 0
        if args.action == "sync":
            from tallyhouse import db
            from tallyhouse.spark import landing

            counts = landing.sync(db.database_url(), server.endpoint(progress=_say),
                                  progress=_say)
            control = {f"{schema}.{table}" for schema, table in landing.CONTROL_TABLES}
            feeds = {name: rows for name, rows in counts.items() if name not in control}
            _say(f"raw on Spark: {sum(feeds.values()):,} new rows in {len(feeds)} feed tables"
                 f"; {len(counts) - len(feeds)} control tables copied whole"
                 + ("; the next run rebuilds every model (raw was replaced)"
                    if counts.rewritten else ""))
            return 0
    except server.SparkError as exc:
        _say(f"error: {exc}")
        return 1
    raise AssertionError(args.action)


def add_parser(sub) -> None:
    spark = sub.add_parser(
        "spark", help="the local Spark of TALLYHOUSE_ENGINE=spark: start, stop, status, sync")
    actions = spark.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("start", help="start the local Spark Thrift server (kept running)")
    actions.add_parser("stop", help="stop the local Spark Thrift server")
    actions.add_parser("status", help="whether Spark runs, and where")
    actions.add_parser("sync", help="copy what was landed since the last copy to Spark's raw "
                                    "tables (Parquet); a run does it itself")
    spark.set_defaults(func=cmd_spark)
