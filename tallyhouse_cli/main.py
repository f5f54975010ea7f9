"""The ``tallyhouse`` command: the user's interface to the warehouse."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from tallyhouse import db
from tallyhouse.config import DATABASE_URL_ENV, default_landing_dir, project_root

DEMO_TRANSACTIONS = 20_000
DEMO_SEED = 20261123


def _say(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------- generate

def cmd_generate(args: argparse.Namespace) -> int:
    from tallyhouse.generator import GenerateConfig, generate

    out = Path(args.out).resolve()
    _say(f"Generating {args.transactions:,} transactions (seed {args.seed}) into {out}"
         + (" with anomalies" if args.anomalies else ""))
    from contextlib import nullcontext

    from tallyhouse.progress import progress_bar

    # a bar in a terminal; in a log, the generator's own line every tenth of the days
    interactive = sys.stdout.isatty()
    try:
        with (progress_bar("transactions", args.transactions) if interactive
              else nullcontext(None)) as advance:
            summary = generate(
                GenerateConfig(out=out, transactions=args.transactions, seed=args.seed,
                               anomalies=args.anomalies, start=args.start, days=args.days,
                               gzip=args.gzip),
                progress=None if interactive else _say,
                advance=(lambda done, _total: advance(done)) if interactive else None,
            )
    except (FileExistsError, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    rate = summary["transactions"] / max(summary["seconds"], 1e-9)
    _say(f"Wrote {summary['records']:,} records in {summary['files']:,} files in "
         f"{summary['seconds']:.1f}s ({rate:,.0f} transactions/s).")
    _say(f"Ground truth: {out / '_truth.json'}")
    if args.anomalies:
        _say(f"Injected {summary['anomalies']} anomalies, listed in {out / '_anomalies.json'}")
    return 0


# ---------------------------------------------------------------------------- run

def _landing_is_empty(landing: Path) -> bool:
    if not landing.exists():
        return True
    return not any(p.is_file() for p in landing.rglob("*") if not p.name.startswith("_"))


def cmd_run(args: argparse.Namespace) -> int:
    landing = Path(args.landing).resolve() if args.landing else default_landing_dir()
    _say("tallyhouse run")
    _say(f"  landing:  {landing}")
    if db.is_embedded():
        _say(f"  database: embedded PostgreSQL in {db.pgdata_dir()} (starting if needed)")
    started = time.monotonic()
    try:
        url = db.database_url()
    except Exception as exc:  # noqa: BLE001 - any start failure is reported the same way
        _say(f"error: the database could not be started or reached: {exc}")
        return 1
    if not db.is_embedded():
        _say(f"  database: {DATABASE_URL_ENV}")
    if _use_engine(args) == "spark":
        from tallyhouse.spark import server

        _say("  engine:   Spark (marts built there; landing and run history in the "
             "database above)")
        try:
            where = server.endpoint(progress=lambda m: _say(f"  {m}"))
        except server.SparkError as exc:
            _say(f"error: Spark could not be started or reached: {exc}")
            return 1
        _say(f"            {where.describe()}")
        from tallyhouse.spark import landing as spark_landing

        try:  # where the copy of the landing goes: said now, not found missing mid-run
            copy_to = spark_landing.landing_for(where)
        except server.SparkError as exc:
            _say(f"error: {exc}")
            return 2
        _say(f"            landing copied to {copy_to.location}")
    if _landing_is_empty(landing):
        if args.landing and not args.demo:
            _say(f"  {landing} holds no extracts: every source is empty (use --demo to "
                 "generate demo extracts there).")
        else:
            _say(f"  {landing} is empty: generating demo extracts "
                 f"({DEMO_TRANSACTIONS:,} transactions, seed {DEMO_SEED}).")
            from tallyhouse.generator import GenerateConfig, generate

            landing.mkdir(parents=True, exist_ok=True)
            generate(GenerateConfig(out=landing, transactions=DEMO_TRANSACTIONS, seed=DEMO_SEED),
                     progress=lambda m: None)
    from tallyhouse.runlock import RunInProgress, holder, run_lock

    busy = holder(url)
    if busy is not None:
        if not args.wait:
            _say(f"Another run is in progress: {busy.describe()}. Not started (--no-wait).")
            return EXIT_BUSY
        _say(f"Another run is in progress: {busy.describe()}. Waiting for it to end...")
    from orchestration.run import run_job
    from tallyhouse_cli.summary import print_run_summary

    run_started = datetime.now(UTC)
    log_file = run_log_path(run_started)
    _say(f"  log:      {log_file}" + ("" if args.verbose else "  (Dagster and dbt, in full)"))
    try:
        # taken here, before Dagster starts: a run that begins in between is said in one
        # line, never as a failed Dagster run; the job's own lock is this one (re-entrant)
        with run_lock(url, "starting", wait=args.wait, say=_say):
            if args.verbose:
                result = run_job(landing, url, wait=args.wait, rehash=args.rehash,
                                 full_pass=args.full_pass, log_file=log_file,
                                 notify=args.notify)
            else:
                result = _quiet_run(landing, url, args, log_file)
    except RunInProgress as exc:
        _say(f"Another run started first: {exc} (--no-wait).")
        return EXIT_BUSY
    elapsed = time.monotonic() - started
    if result.busy:
        _say("Another run started first and is still in progress: this run did not start "
             "(--no-wait).")
        return EXIT_BUSY
    structural = print_run_summary(url, run_started, result, elapsed)
    if not result.success:
        return 1
    if args.strict and structural:
        _say(f"--strict: {len(structural)} structural finding(s) ({', '.join(structural)}): "
             "exit 3.")
        return 3
    return 0


EXIT_BUSY = 75  # EX_TEMPFAIL: try again later


def run_log_path(started: datetime) -> Path:
    from tallyhouse.config import state_dir

    folder = state_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"run-{started:%Y%m%dT%H%M%S}Z.log"


def _quiet_run(landing: Path, url: str, args: argparse.Namespace, log_file: Path):
    """The job with its whole Dagster / dbt stream in the log file and a few progress lines
    (stage, feed, model count, elapsed) here."""
    from orchestration.run import run_job
    from tallyhouse_cli.run_output import RunProgress, quiet_output

    with quiet_output(log_file) as console:
        from tallyhouse.dbt import ensure_manifest

        ensure_manifest()  # the definitions read it (a fresh clone has none yet)
        from orchestration.defs.transform.assets import dbt_models

        progress = RunProgress(console, dbt_models=len(dbt_models.keys))
        try:
            return run_job(landing, url, wait=args.wait, rehash=args.rehash,
                           full_pass=args.full_pass, on_event=progress, notify=args.notify)
        finally:
            progress.finish_stage()


# ---------------------------------------------------------------------------- db

def cmd_db(args: argparse.Namespace) -> int:
    action = args.action
    if action == "url":
        # the password, if any, stays hidden: scripts read TALLYHOUSE_DATABASE_URL themselves
        _say(db.redact(db.database_url()))
        return 0
    if action == "psql":
        # psql is the warehouse owner's maintenance prompt, said so by --owner: psql can
        # switch users (\c) and settings, so it is never offered as the analysts' prompt
        # (that is `tallyhouse sql`, whose every statement runs as the read-only analyst)
        extra = list(args.psql_args or [])
        if not (args.owner or "--owner" in extra):
            _say("tallyhouse db psql opens psql as the warehouse OWNER (maintenance): say so "
                 "with `tallyhouse db psql --owner`. To query the marts as the read-only "
                 "analyst: `tallyhouse sql` (a prompt) or `tallyhouse sql \"select ...\"`.")
            return 2
        return db.run_psql([a for a in extra if a != "--owner"])
    if action == "env":
        # for plain dbt / mf in the project folder: eval "$(tallyhouse db env)"
        import shlex

        from tallyhouse.config import project_root

        parts = db.connection_parts(db.database_url()).as_env()
        password = parts.pop("TALLYHOUSE_PG_PASSWORD", "")
        for name, value in {**parts, "DBT_PROFILES_DIR": str(project_root()),
                            "DBT_PROJECT_DIR": str(project_root())}.items():
            print(f"export {name}={shlex.quote(value)}")
        if password:
            print("# the password is not printed: export TALLYHOUSE_PG_PASSWORD yourself")
        return 0
    if action == "start":
        _say(f"embedded PostgreSQL running: {db.redact(db.database_url())}")
        return 0
    if action == "roles":
        from tallyhouse import roles

        if args.login:
            try:
                lines = roles.ensure_reader_login(args.login)
            except (LookupError, ValueError) as exc:
                _say(f"error: {exc}")
                return 2
            for line in lines:
                _say(line)
            return 0
        for line in roles.ensure_roles():
            _say(line)
        _say(f"Dashboards connect as {roles.DASHBOARD}; give a person a login of their own in "
             f"a group, e.g. create role alice login password '...' in role {roles.ANALYST};")
        return 0
    if action == "status":
        if not db.is_embedded():
            _say(f"using {DATABASE_URL_ENV}; the embedded server is not used")
        else:
            _say(f"embedded PostgreSQL in {db.pgdata_dir()}: {db.embedded_status()}")
        return 0
    if action == "stop":
        if not db.is_embedded():
            _say(f"using {DATABASE_URL_ENV}: nothing to stop")
            return 0
        _say("stopped" if db.stop_embedded() else "was not running")
        return 0
    raise AssertionError(action)


# ---------------------------------------------------------------------------- sqlfluff

def cmd_sqlfluff(args: argparse.Namespace) -> int:
    """sqlfluff with the dbt templater, connected to the database in use."""
    import subprocess

    from tallyhouse.dbt import dbt_env

    executable = Path(sys.executable).parent / "sqlfluff"
    return subprocess.call([str(executable), *args.sqlfluff_args], cwd=project_root(),
                           env=dbt_env())


# ---------------------------------------------------------------------------- bench

def cmd_bench(args: argparse.Namespace) -> int:
    if args.receiver:
        from tallyhouse_cli.receiver_bench import main_receiver_bench

        levels = tuple(int(n) for n in args.senders.split(","))
        return main_receiver_bench(args.seconds, levels, args.json, say=_say)
    from tallyhouse_cli.bench import main_bench

    return main_bench(args)


# ---------------------------------------------------------------------------- receive

def cmd_receive(args: argparse.Namespace) -> int:
    from tallyhouse.receiver.app import Settings, rotate_seconds_from_env
    from tallyhouse.receiver.server import serve

    if not (args.header_timeout > 0 and args.body_timeout > 0):
        _say("tallyhouse receive: --header-timeout and --body-timeout must be above 0")
        return 2
    landing = Path(args.landing).resolve() if args.landing else default_landing_dir()
    settings = Settings.from_env(landing, max_body_bytes=args.max_body_bytes,
                                 rotate_bytes=max(1, int(args.rotate_mib * (1 << 20))),
                                 rotate_seconds=rotate_seconds_from_env()
                                 if args.rotate_seconds is None else args.rotate_seconds,
                                 header_timeout=args.header_timeout,
                                 body_timeout=args.body_timeout)
    return serve(settings, args.host, args.port)


# ---------------------------------------------------------------------------- backfill

def cmd_backfill(args: argparse.Namespace) -> int:
    from tallyhouse_cli.backfill import cmd_backfill as backfill

    return backfill(args, say=_say)


# ---------------------------------------------------------------------------- forget

def cmd_forget(args: argparse.Namespace) -> int:
    from tallyhouse import forget
    from tallyhouse.runlock import run_lock

    url = db.database_url()
    landing = Path(args.landing).resolve() if args.landing else default_landing_dir()
    started = time.monotonic()
    with run_lock(url, "forget", wait=True, say=_say):
        # an erasure killed earlier is finished first (its files, its vacuum)
        forget.finish_pending(url, say=_say)
        _say("Looking for the person in raw, quarantine, breaks, landing files and reports...")
        try:
            done = forget.erase(url, args.email or (), args.document or (), landing=landing,
                                say=_say)
        except (ValueError, LookupError) as exc:
            _say(f"error: {exc}")
            return 2
        if not done.found:
            _say("Nothing about this person anywhere (already erased, or never delivered): "
                 "nothing changed.")
            return 0
        tables = ", ".join(f"{t} {len(h)}" for t, h in sorted(done.records.items()))
        _say(f"Erasure {done.erasure_id}: {done.total} raw record(s) rewritten"
             f"{' (' + tables + ')' if tables else ''}; {done.quarantined} quarantined "
             f"line(s), {done.break_rows} break row(s), {done.landing_files} landing file(s), "
             f"{done.report_files} report file(s) scrubbed; person key(s) kept: "
             f"{', '.join(done.person_keys) or 'none'}.")
        forget.finish_pending(url, say=_say)
        _say("Rebuilding every model from raw and checking the books (a full pass)...")
        from orchestration.run import run_job

        # inside the same lock: no other run comes between the erasure and its rebuild
        result = run_job(landing, url, wait=True, full_pass=True)
    if not result.success:
        _say("error: the rebuild failed; the raw records are already erased and the next "
             "`tallyhouse run` rebuilds from them before anything else")
        return 1
    _say(f"Done in {time.monotonic() - started:.0f}s. Audit: restricted.erasures "
         f"(erasure_id {done.erasure_id}).")
    return 0


# ---------------------------------------------------------------------------- sql

def _engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["postgres", "spark"],
                        help="the engine holding the warehouse (default: $TALLYHOUSE_ENGINE, "
                             "else postgres)")


def _use_engine(args: argparse.Namespace) -> str:
    """The engine of this command: --engine, else TALLYHOUSE_ENGINE; the child processes
    (dbt, the job's run) inherit the choice."""
    from tallyhouse.engine import ENGINE_ENV, engine

    chosen = engine(getattr(args, "engine", None))
    os.environ[ENGINE_ENV] = chosen
    return chosen


def cmd_sql(args: argparse.Namespace) -> int:
    """One read-only query as the analyst role (never the warehouse owner's session)."""
    import csv

    from tallyhouse import readers

    on_spark = _use_engine(args) == "spark"
    if on_spark:
        from tallyhouse.spark import readers as spark_readers
        from tallyhouse.spark.server import SparkError

        def run(text: str) -> readers.Rows:
            try:
                return spark_readers.run_read_only(text)
            except SparkError as error:
                raise readers.RefusedQuery(str(error)) from error
    else:
        def run(text: str) -> readers.Rows:
            return readers.run_read_only(text, readers.reader_conninfo())

    if args.query is None and sys.stdin.isatty():
        return _sql_prompt(run, "Spark" if on_spark else "tallyhouse_analyst")
    text = sys.stdin.read() if args.query in (None, "-") else args.query
    try:
        found = run(text)
    except readers.NotBuilt as error:
        _say(f"tallyhouse sql: {error} — the marts are built by `tallyhouse run`"
             + _other_engine_hint(on_spark))
        return 2
    except readers.RefusedQuery as error:
        _say(f"tallyhouse sql: {error}")
        return 2
    if args.csv:
        out = sys.stdout if args.csv == "-" else open(args.csv, "w", newline="")  # noqa: SIM115
        try:
            writer = csv.writer(out)
            writer.writerow(found.columns)
            writer.writerows(found.rows)
        finally:
            if out is not sys.stdout:
                out.close()
        if args.csv != "-":
            _say(f"{len(found.rows)} rows written to {args.csv}")
        return 0
    from tallyhouse.metrics import Answer, format_table

    _say(format_table(Answer(found.columns, found.rows)))
    return 0


def _other_engine_hint(on_spark: bool) -> str:
    """When the marts asked for are missing because the last build was on the other engine:
    how to ask that one."""
    from tallyhouse import build_state, db

    built = build_state.built_on(db.database_url())
    if built == "spark" and not on_spark:
        return ("; the last build was on Spark: ask it with `tallyhouse sql --engine spark` "
                "(or TALLYHOUSE_ENGINE=spark)")
    if built == "postgres" and on_spark:
        return ("; the last build was on PostgreSQL: ask it with `tallyhouse sql --engine "
                "postgres`")
    return ""


def _sql_prompt(run, who: str) -> int:
    """The analysts' prompt: each statement (ended by ``;``) runs on its own, as the
    read-only analyst, like ``tallyhouse sql "..."``. Nothing typed here can switch user
    or keep a setting: every statement gets a session of its own."""
    from tallyhouse import readers
    from tallyhouse.metrics import Answer, format_table

    try:
        import readline  # noqa: F401 - line editing and history at the prompt
    except ImportError:  # pragma: no cover
        pass
    _say(f"tallyhouse sql — the marts, read-only, as {who}. End a statement "
         "with ; — \\q or Ctrl-D leaves.")
    pending: list[str] = []
    while True:
        try:
            line = input("sql> " if not pending else "...> ")
        except EOFError:
            _say()
            return 0
        except KeyboardInterrupt:
            _say()
            pending = []
            continue
        if not pending and line.strip() in ("\\q", "quit", "exit"):
            return 0
        pending.append(line)
        text = "\n".join(pending).strip()
        if not text.endswith(";"):
            continue
        pending = []
        try:
            found = run(text.rstrip(";"))
        except readers.RefusedQuery as error:
            _say(f"refused: {error}")
            continue
        _say(format_table(Answer(found.columns, found.rows)))


# ---------------------------------------------------------------------------- dev

def cmd_metrics(args: argparse.Namespace) -> int:
    from tallyhouse import metrics

    if _use_engine(args) == "spark" and args.action != "list":
        _say("tallyhouse metrics: the semantic layer (MetricFlow) runs on PostgreSQL or "
             "Databricks, not on a plain Spark Thrift server. On Spark, ask the marts with "
             "`tallyhouse sql --engine spark \"select ...\"`; `tallyhouse metrics list` shows "
             "the metrics' definitions.")
        return 2

    def names(text: str | None) -> list[str]:
        return [n.strip() for n in (text or "").split(",") if n.strip()]

    try:
        if args.action == "list":
            for name, description in metrics.metric_names():
                _say(f"{name:<26} {description}")
            return 0
        answer = metrics.query(
            metrics=names(args.metrics), group_by=names(args.group_by), where=args.where,
            order=names(args.order), limit=args.limit, currency=args.currency,
            saved_query=args.name if args.action == "saved" else None, explain=args.explain)
    except metrics.MetricsError as error:
        _say(f"tallyhouse metrics: {error}")
        return 2
    if answer.note:
        _say(f"({answer.note})")
    if args.explain:
        _say(answer.sql)
        return 0
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(answer.columns)
            writer.writerows(answer.rows)
        _say(f"{len(answer.rows)} rows written to {args.csv}")
        return 0
    _say(metrics.format_table(answer))
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from tallyhouse import docs_site

    _say("Generating the docs site (dbt docs generate, catalog from the warehouse)...")
    try:
        folder = docs_site.generate(db.database_url())
    except RuntimeError as error:
        _say(str(error))
        return 1
    _say(f"Docs site written to {folder}")
    if args.no_serve:
        return 0
    server = docs_site.serve(folder, port=args.port)
    _say(f"Serving the docs on http://127.0.0.1:{server.server_address[1]}/ "
         "(loopback only; Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from orchestration.run import dagster_home

    dagster_home()
    os.environ.setdefault("TALLYHOUSE_LANDING", str(default_landing_dir()))
    url = db.database_url()
    executable = Path(sys.executable).parent / "dagster"
    command = [str(executable), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1",
               "-p", str(args.port)]
    _say(f"Dagster UI on http://127.0.0.1:{args.port} (database: {db.redact(url)}); Ctrl+C "
         "stops it. For a server that runs unattended: tallyhouse up.")
    os.chdir(project_root())
    os.execv(command[0], command)
    return 0  # pragma: no cover


def dashboard_command(port: int = 8501, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run",
            str(project_root() / "dashboards" / "app.py"), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DASHBOARD_AUTH_ENV = "TALLYHOUSE_DASHBOARD_AUTH"  # read by dashboards/app.py


def sign_in_configured(folder: Path | None = None) -> bool:
    """Streamlit's OIDC sign-in is set up: an [auth] table in .streamlit/secrets.toml."""
    import tomllib

    for path in ((folder or project_root()) / ".streamlit" / "secrets.toml",
                 Path.home() / ".streamlit" / "secrets.toml"):
        if path.is_file():
            try:
                auth = tomllib.loads(path.read_text()).get("auth") or {}
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if auth.get("client_id") or any(isinstance(v, dict) and v.get("client_id")
                                            for v in auth.values()):
                return True
    return False


def dashboard_auth_mode(host: str, no_auth: bool) -> str:
    """'oidc' when sign-in is configured; 'off' on loopback; 'open' (warned) with --no-auth
    beyond it. Raises ValueError for a non-loopback address without either, and for sign-in
    without a well-formed TALLYHOUSE_DASHBOARD_ALLOWED (whatever the address: a proxy may
    forward loopback to the world, and sign-in alone admits any account of the provider)."""
    if sign_in_configured():
        from dashboards import access

        try:
            allowed = access.parse(os.environ.get(access.ALLOWED_ENV))
        except ValueError as exc:
            raise ValueError(f"refusing to serve the dashboards: {exc}") from None
        if not allowed:
            raise ValueError(
                f"refusing to serve the dashboards: sign-in is configured but "
                f"{access.ALLOWED_ENV} is not set, and sign-in alone lets in any account of "
                f"the provider. Set it to who may see them, e.g. {access.ALLOWED_ENV}="
                "'ana@example.com,@yourcompany.com.br' (see README 'Data protection')")
        return "oidc"
    if host in LOOPBACK:
        return "off"
    if no_auth:
        return "open"
    raise ValueError(
        f"refusing to serve the dashboards on {host} without sign-in: configure Streamlit's "
        "OIDC sign-in ([auth] in .streamlit/secrets.toml, see README 'Data protection'), or "
        "pass --no-auth to serve them to anyone who can reach that address")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from tallyhouse import roles

    try:
        mode = dashboard_auth_mode(args.host, args.no_auth)
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    url = db.database_url()
    if not os.environ.get(roles.DASHBOARD_URL_ENV):
        try:
            roles.ensure_roles(url)
        except Exception as exc:  # noqa: BLE001 - any failure is explained the same way
            _say(f"error: could not set up the read-only role {roles.DASHBOARD} "
                 f"({db.redact(str(exc)).strip()}); run `tallyhouse db roles` as a user who "
                 f"may create roles, or set {roles.DASHBOARD_URL_ENV}")
            return 1
    _say(f"Dashboards on http://{args.host}:{args.port} as {roles.DASHBOARD} "
         f"(database: {db.redact(url)}); Ctrl+C stops them.")
    if mode == "open":
        _say(f"WARNING: served on {args.host} WITHOUT sign-in (--no-auth): anyone who can "
             "reach this address sees the figures.")
    elif mode == "oidc":
        _say("Sign-in: Streamlit OIDC ([auth] in .streamlit/secrets.toml); only the "
             "addresses and domains in TALLYHOUSE_DASHBOARD_ALLOWED are let in.")
    os.environ[DASHBOARD_AUTH_ENV] = mode
    os.chdir(project_root())  # Streamlit reads .streamlit/secrets.toml from here
    command = dashboard_command(args.port, args.host)
    os.execv(command[0], command)
    return 0  # pragma: no cover


# ---------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tallyhouse",
        description="Analytics warehouse for multi-platform sellers: land extracts, build "
                    "marts, reconcile, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="load every landing source and run the whole job")
    run.add_argument("--landing", help="folder of extracts (default: landing/ in the home: "
                                       "$TALLYHOUSE_HOME, else the project folder)")
    run.add_argument("--demo", action="store_true",
                     help="generate demo extracts into --landing when it is empty")
    run.add_argument("--strict", action="store_true",
                     help="exit 3 when a structural (ERROR) finding exists; a plain run exits "
                          "non-zero only when a step could not run")
    run.add_argument("--no-wait", dest="wait", action="store_false",
                     help="when another run is in progress, say which and exit 75 at once "
                          "instead of waiting for it")
    run.add_argument("--rehash", action="store_true",
                     help="hash every landing file again (by default a file whose name, size "
                          "and modification time match a loaded one is skipped unread)")
    _engine_option(run)
    run.add_argument("--full-pass", action="store_true",
                     help="rebuild every model from raw and run every test over whole tables "
                          "(the scheduled Sunday run does this; other runs build what changed)")
    run.add_argument("--verbose", action="store_true",
                     help="stream Dagster's and dbt's whole log here (by default it goes to "
                          ".tallyhouse/logs/run-<time>.log and only progress is shown)")
    run.add_argument("--no-notify", dest="notify", action="store_false",
                     help="send no digest and no failed-run alert for this run (by default "
                          "they go to the configured channels: tallyhouse notify --test)")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write realistic extracts for every source")
    gen.add_argument("--out", required=True, help="empty folder to write into")
    gen.add_argument("--transactions", type=int, default=DEMO_TRANSACTIONS,
                     help="transactions to generate")
    gen.add_argument("--seed", type=int, default=42, help="the same seed gives the same bytes")
    gen.add_argument("--anomalies", action="store_true",
                     help="inject one break of each reconciliation kind (_anomalies.json)")
    gen.add_argument("--start", type=date.fromisoformat, default=date(2026, 5, 1),
                     help="first day of the period (YYYY-MM-DD)")
    gen.add_argument("--days", type=int, default=184, help="length of the period in days")
    gen.add_argument("--gzip", action="store_true",
                     help="write the extracts gzip-compressed (<name>.jsonl.gz, <name>.csv.gz)")
    gen.set_defaults(func=cmd_generate)

    dbp = sub.add_parser(
        "db", help="the database in use",
        description="The warehouse database: the embedded PostgreSQL in .tallyhouse/pgdata, "
                    f"or any PostgreSQL named by {DATABASE_URL_ENV}.")
    dbp.set_defaults(func=cmd_db, owner=False, login=None, psql_args=[])
    db_actions = dbp.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_actions.add_parser("url", help="the connection in use (password hidden)")
    psql = db_actions.add_parser(
        "psql", help="psql as the warehouse owner, for maintenance (--owner required; "
                     "analysts: tallyhouse sql)",
        description="psql on the warehouse as its OWNER, for maintenance: say so with "
                    "--owner. Any further arguments go to psql, e.g. tallyhouse db psql "
                    "--owner -c 'select 1'. Analysts query the marts with tallyhouse sql "
                    "(read-only, as tallyhouse_analyst).")
    psql.add_argument("--owner", action="store_true",
                      help="yes, connect as the warehouse owner")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER, help="arguments passed to psql")
    db_actions.add_parser("env", help="the connection as environment variables for plain "
                                      "dbt / mf: eval \"$(tallyhouse db env)\"")
    db_actions.add_parser("start", help="start the embedded PostgreSQL")
    db_actions.add_parser("stop", help="stop the embedded PostgreSQL")
    db_actions.add_parser("status", help="whether the embedded PostgreSQL runs")
    roles_parser = db_actions.add_parser(
        "roles", help="create the analyst / dashboard / restricted roles and grants")
    roles_parser.add_argument("--login", help="give this person's own login the readers' "
                                              "read-only settings")

    bench = sub.add_parser(
        "bench", help="time every stage of the job against a bare baseline (COPY + CTAS)")
    bench.add_argument("--transactions", type=int, default=100_000,
                       help="transactions to generate")
    bench.add_argument("--seed", type=int, default=1, help="the generator's seed")
    bench.add_argument("--json", help="write the figures to this file")
    bench.add_argument("--workdir", help="where to generate extracts (default: a temp folder)")
    bench.add_argument("--keep", action="store_true", help="keep the generated extracts")
    bench.add_argument("--gzip", action="store_true",
                       help="generate gzip-compressed extracts (large sizes fit on the disk)")
    bench.add_argument("--receiver", action="store_true",
                       help="instead: the webhook receiver on loopback (requests/s, p50/p99 "
                            "at --senders concurrent senders, fsync on)")
    bench.add_argument("--senders", default="1,16,64", help="receiver: concurrency levels")
    bench.add_argument("--seconds", type=float, default=5.0,
                       help="receiver: seconds per concurrency level")
    bench.add_argument("--freshness", action="store_true",
                       help="also: webhooks posted to a real receiver while the sensor starts "
                            "the job, p50/p95/max from the 200 to fct_transactions and "
                            "agg_daily_sales")
    bench.add_argument("--rate", type=float,
                       help="freshness: webhooks per second (default 5)")
    bench.add_argument("--for-seconds", type=float, dest="for_seconds",
                       help="freshness: how long to post (default 600)")
    bench.add_argument("--rotate-seconds", type=float, dest="rotate_seconds",
                       help="freshness: the receiver's rotation (default: the receiver's)")
    bench.add_argument("--sensor-seconds", type=int, dest="sensor_seconds",
                       help="freshness: the sensor's interval (default: the sensor's)")
    bench.add_argument("--engine", choices=["postgres", "spark"],
                       help="spark: also build the same extracts on a local Spark of the "
                            "benchmark's own, beside PostgreSQL (default: $TALLYHOUSE_ENGINE, "
                            "else postgres)")
    bench.set_defaults(func=cmd_bench)

    fgt = sub.add_parser(
        "forget", help="erase a person's identifiers everywhere (LGPD), keeping the totals")
    fgt.add_argument("--email", action="append", help="the person's e-mail (repeatable)")
    fgt.add_argument("--document", action="append",
                     help="the person's CPF / CNPJ, with or without punctuation (repeatable)")
    fgt.add_argument("--landing", help="the landing folder whose files are rewritten too "
                                       "(default: landing/ in the tallyhouse home)")
    fgt.set_defaults(func=cmd_forget)

    recv = sub.add_parser(
        "receive", help="receive the platforms' webhooks into landing/ (fsynced before 200)")
    recv.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (behind a TLS reverse proxy: keep loopback)")
    recv.add_argument("--port", type=int, default=8000, help="port to listen on")
    recv.add_argument("--landing", help="landing folder (default: landing/ in the home)")
    recv.add_argument("--max-body-bytes", type=int, default=1 << 20,
                      help="larger bodies answer 413")
    recv.add_argument("--rotate-seconds", type=float, default=None,
                      help="close a file for loading after this many seconds (default: "
                           "TALLYHOUSE_RECEIVER_ROTATE_SECONDS, else 10)")
    recv.add_argument("--rotate-mib", type=float, default=64,
                      help="... or once it holds this many MiB")
    recv.add_argument("--header-timeout", type=float, default=10.0,
                      help="seconds a client has to send a request's headers, from connecting "
                           "or from its first byte; then 408 and closed")
    recv.add_argument("--body-timeout", type=float, default=30.0,
                      help="seconds a client has to send the whole body once its headers are "
                           "in; then 408 and closed")
    recv.set_defaults(func=cmd_receive)

    from tallyhouse_cli.backfill import add_parser as add_backfill_parser

    add_backfill_parser(sub).set_defaults(func=cmd_backfill)

    from tallyhouse_cli.notify import add_parser as add_notify_parser

    add_notify_parser(sub)

    fluff = sub.add_parser(
        "sqlfluff", help="sqlfluff (dbt templater) on the database in use",
        description="sqlfluff with the dbt templater and this project's connection, e.g. "
                    "tallyhouse sqlfluff lint models (what make lint runs).")
    fluff.add_argument("sqlfluff_args", nargs=argparse.REMAINDER,
                       help="arguments passed to sqlfluff, e.g. lint models")
    fluff.set_defaults(func=cmd_sqlfluff)

    dash = sub.add_parser("dashboard", help="serve the Streamlit dashboards")
    dash.add_argument("--port", type=int, default=8501, help="port to serve on")
    dash.add_argument("--host", default="127.0.0.1",
                      help="address to serve on; beyond loopback, sign-in is required")
    dash.add_argument("--no-auth", action="store_true",
                      help="serve beyond loopback without sign-in (the banner warns)")
    dash.set_defaults(func=cmd_dashboard)

    mets = sub.add_parser(
        "metrics", help="the semantic layer: metrics through MetricFlow on the warehouse in use",
        description="Metrics defined once in models/semantic/, asked through MetricFlow. "
                    "Short names work in --group-by (platform, product, currency, "
                    "payment_method, status, day, week, month, year). Money is never added "
                    "across currencies: without --currency XXX, money metrics are grouped "
                    "by currency too.")
    _engine_option(mets)
    mets.set_defaults(func=cmd_metrics, name=None, metrics=None, group_by=None, where=[],
                      currency=None, order=None, limit=None, explain=False, csv=None)
    actions = mets.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the metrics and their definitions")
    mq = actions.add_parser("query", help="ask for metrics, grouped and filtered",
                            description=mets.description)
    mq.add_argument("--metrics", required=True,
                    help="comma-separated metric names, e.g. gross_revenue,refund_rate")
    mq.add_argument("--group-by", dest="group_by",
                    help="comma-separated dimensions, e.g. platform,month or "
                         "transaction__platform,metric_time__month")
    mq.add_argument("--where", action="append", default=[],
                    help="a MetricFlow filter, e.g. \"{{ Dimension('transaction__platform') "
                         "}} = 'hotmart'\" (repeatable)")
    mq.add_argument("--currency", help="only this currency (ISO 4217 code); without it money "
                                       "metrics are grouped by currency")
    mq.add_argument("--order", help="comma-separated order, prefix - for descending")
    mq.add_argument("--limit", type=int, help="at most this many rows (default: all)")
    mq.add_argument("--explain", action="store_true", help="print the SQL instead of rows")
    mq.add_argument("--csv", help="write the rows to this CSV file (exact values)")
    ms = actions.add_parser("saved", help="run a saved query")
    ms.add_argument("name", help="the saved query, e.g. refund_rate_by_product")
    ms.add_argument("--limit", type=int, help="at most this many rows (default: all)")
    ms.add_argument("--csv", help="write the rows to this CSV file (exact values)")

    sq = sub.add_parser(
        "sql", help="read-only queries as the analyst role (one statement, or a prompt)",
        description="SQL run as tallyhouse_analyst (reads the marts only, read-only session, "
                    "one statement per execution): never in the warehouse owner's session. "
                    "Without a query in a terminal: a prompt; - reads the query from "
                    "standard input.")
    sq.add_argument("query", nargs="?",
                    help="the SELECT to run; - for standard input; none: a prompt")
    sq.add_argument("--csv", help="write the rows as CSV to this file (- for standard "
                                  "output), every value exact")
    _engine_option(sq)
    sq.set_defaults(func=cmd_sql)

    docs = sub.add_parser("docs", help="generate and serve the dbt docs site on loopback")
    docs.add_argument("--port", type=int, default=8580, help="port to serve on (loopback)")
    docs.add_argument("--no-serve", action="store_true", help="only generate the site")
    docs.set_defaults(func=cmd_docs)

    dev = sub.add_parser("dev", help="the Dagster UI and daemon in one process (dagster dev), "
                                     "for development; servers use `tallyhouse up`")
    dev.add_argument("--port", type=int, default=3000, help="port of the Dagster UI")
    dev.set_defaults(func=cmd_dev)

    from tallyhouse_cli.operate import add_parsers

    add_parsers(sub)
    from tallyhouse_cli.spark import add_parser as add_spark_parser

    add_spark_parser(sub)
    _every_parser(parser)
    return parser


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default in its help, unless the help says it already or there is
    none worth saying (a flag, an unset value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, argparse.SUPPRESS) or isinstance(default, bool)
                or default == [] or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def _every_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _every_parser(child)


def _venv_on_path() -> None:
    """Child processes (dagster dev's code server, dbt, sqlfluff) find the venv's tools
    without an activated venv: its bin folder goes first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *[p for p in parts if p != bin_dir]])


# commands whose further arguments go to another program as they are (argparse would read
# a first one that starts with "-", e.g. `db psql -tAc ...`, as its own option)
PASS_THROUGH = {("db", "psql"): "psql_args", ("sqlfluff",): "sqlfluff_args"}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    for prefix, dest in PASS_THROUGH.items():
        if tuple(argv[:len(prefix)]) == prefix:
            rest = argv[len(prefix):]
            if rest and rest[0] in ("-h", "--help"):
                break
            own = [a for a in rest if a == "--owner"] if dest == "psql_args" else []
            args = parser.parse_args([*prefix, *own])
            setattr(args, dest, [a for a in rest if a not in own])
            return args
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from tallyhouse.engine import EngineError

    _venv_on_path()
    args = parse(argv)
    try:
        return args.func(args)
    except db.DatabaseError as exc:
        _say(f"error: {exc}")
        return 1
    except EngineError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
