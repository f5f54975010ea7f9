"""Run the reconciliation checks with Great Expectations and keep their breaks as data.

Each :class:`~tallyhouse.reconciliation.checks.Check` becomes a GX 1.x expectation suite
with one ``UnexpectedRowsExpectation`` over a table asset of the warehouse; the suites run
as validation definitions of one ephemeral context, and GX Data Docs are built into the
run's report folder. GX returns at most 200 failing rows per expectation; when a check
finds more, the rest are read with the same query, so every break is kept.

Breaks and outcomes are stored per run in ``marts.rpt_reconciliation_breaks`` and
``marts.rpt_reconciliation_summary`` (created here: they hold history across runs, which
dbt's tables, rebuilt on every run, cannot).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg2.extras

from tallyhouse import db
from tallyhouse.reconciliation.checks import CHECKS, Check

BREAK_COLUMNS = ("break_kind", "entity_type", "entity_id", "platform", "unit", "expected",
                 "actual", "amount_at_stake", "detail")

DDL = """
create schema if not exists marts;
create table if not exists marts.rpt_reconciliation_summary (
    run_id text not null,
    run_at timestamptz not null,
    check_name text not null,
    invariant integer not null,
    severity text not null,
    checked_table text not null,
    description text not null,
    passed boolean not null,
    break_count integer not null,
    error text,
    duration_seconds numeric(10, 3) not null,
    primary key (run_id, check_name)
);
create table if not exists marts.rpt_reconciliation_breaks (
    run_id text not null,
    run_at timestamptz not null,
    check_name text not null,
    invariant integer not null,
    severity text not null,
    break_kind text not null,
    entity_type text not null,
    entity_id text,
    platform text,
    unit text,
    currency_code text,
    expected numeric,
    actual numeric,
    difference numeric,
    amount_at_stake numeric,
    detail text,
    feed text
);
create index if not exists rpt_reconciliation_breaks_run_idx
    on marts.rpt_reconciliation_breaks (run_id, check_name);
-- results of a run with nothing new are carried over from the run that computed them
alter table marts.rpt_reconciliation_summary
    add column if not exists carried_over_from text,
    add column if not exists rule_hash text;
-- when a break was first seen in the unbroken line of runs that found it (its age)
alter table marts.rpt_reconciliation_breaks
    add column if not exists first_seen_at timestamptz;
-- What is at stake, defined once: per run, check, feed, platform and unit (the currency of
-- the money at stake, else the unit counted: points, records, transactions). The report,
-- the command line, the Dagster checks and the dashboards all read it.
create or replace view marts.rpt_reconciliation_stakes as
select
    run_id,
    check_name,
    feed,
    coalesce(platform, '—') as platform,
    coalesce(currency_code, unit, '—') as unit,
    count(*) as breaks,
    sum(amount_at_stake) as amount_at_stake
from marts.rpt_reconciliation_breaks
group by run_id, check_name, feed, coalesce(platform, '—'), coalesce(currency_code, unit, '—');
"""

STAKE_GROUPS = {"check_name", "feed", "platform"}


@dataclass
class Outcome:
    check: Check
    passed: bool
    break_count: int
    breaks: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    carried_over_from: str | None = None  # the run that computed this result


def rule_hash(check: Check) -> str:
    """What a check computes: a changed rule is never carried over."""
    import hashlib

    text = "\x1f".join([check.name, str(check.invariant), check.severity, check.relation,
                        substituted(check)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def carry_over(url: str, checks: Iterable[Check] = CHECKS) -> list[Outcome] | None:
    """The last computed results, when nothing they read has changed since: no file loaded
    and the marts not rebuilt after that run (the build state is current), the same rules.
    None when the checks must run."""
    from tallyhouse import build_state

    everything = list(checks)
    live = [c for c in everything if c.live]
    checks = [c for c in everything if not c.live]
    if not build_state.up_to_date(url, build_state.current(url)):
        return None
    with db.cursor(url) as cur:
        cur.execute(DDL)
        cur.execute("""
            select s.run_id, coalesce(s.carried_over_from, s.run_id)
            from marts.rpt_reconciliation_summary as s, raw._build_state as b
            where s.run_at >= b.built_at
            group by 1, 2 order by max(s.run_at) desc limit 1""")
        found = cur.fetchone()
        if found is None:
            return None
        last_run, origin = found
        cur.execute("select check_name, passed, break_count, error, rule_hash "
                    "from marts.rpt_reconciliation_summary where run_id = %s", (last_run,))
        stored = {row[0]: row[1:] for row in cur.fetchall()}
        if any(row[2] for row in stored.values()):
            return None  # a check that could not run is run again
        live_names = {c.name for c in live}
        if ({c.name: rule_hash(c) for c in checks}
                != {name: row[3] for name, row in stored.items() if name not in live_names}):
            return None
        cur.execute("select check_name, " + ", ".join(BREAK_COLUMNS) + ", currency_code, "
                    "difference, feed from marts.rpt_reconciliation_breaks where run_id = %s",
                    (last_run,))
        names = ["check_name", *BREAK_COLUMNS, "currency_code", "difference", "feed"]
        breaks: dict[str, list[dict]] = {}
        for row in cur.fetchall():
            record = dict(zip(names, row, strict=True))
            breaks.setdefault(record.pop("check_name"), []).append(record)
    carried = {c.name: Outcome(c, passed=stored[c.name][0], break_count=stored[c.name][1],
                               breaks=breaks.get(c.name, []), error=stored[c.name][2],
                               carried_over_from=origin) for c in checks}
    # a check whose answer moves with the clock (a stale feed) is computed every time
    now = {c.name: run_directly(url, c) for c in live}
    return [carried.get(c.name) or now[c.name] for c in everything]


def run_directly(url: str, check: Check) -> Outcome:
    """One check's query run on the warehouse without Great Expectations (no GX import, a
    few milliseconds): for the live checks of a run whose other results are carried over."""
    started = time.monotonic()
    try:
        rows = _rows(url, check)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is reported, not raised
        return Outcome(check, passed=False, break_count=0, error=str(exc).splitlines()[0],
                       seconds=time.monotonic() - started)
    return Outcome(check, passed=not rows, break_count=len(rows),
                   breaks=[_normalise(row) for row in rows],
                   seconds=time.monotonic() - started)


def stakes(url_or_cursor, run_id: str, by: tuple[str, ...] = ()) -> dict:
    """Amount at stake of a run per unit (money per currency, points as points), from
    ``marts.rpt_reconciliation_stakes``; with ``by`` (some of check_name, feed, platform),
    per those too: ``{(by values...): {unit: amount}}``. Units with breaks but nothing
    measurable at stake are left out."""
    unknown = set(by) - STAKE_GROUPS
    if unknown:
        raise ValueError(f"cannot group stakes by {sorted(unknown)}")
    columns = ", ".join((*by, "unit"))
    sql = (f"select {columns}, sum(amount_at_stake) from marts.rpt_reconciliation_stakes "
           f"where run_id = %s and amount_at_stake is not null group by {columns} "
           f"order by {columns}")

    def read(cur) -> dict:
        cur.execute(sql, (run_id,))
        totals: dict = {}
        for *keys, unit, amount in cur.fetchall():
            totals.setdefault(tuple(keys), {})[unit] = Decimal(amount)
        return totals if by else totals.get((), {})

    if isinstance(url_or_cursor, str):
        with db.cursor(url_or_cursor) as cur:
            return read(cur)
    return read(url_or_cursor)


def _gx():
    import warnings

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # GX loads pyspark when it is installed (the spark extra), Spark Connect included.
    # Importing pyspark's Spark Connect exits a process whose __main__ has neither
    # __spec__ nor __file__ (it takes it for its doctest runner): the step processes of a
    # run the Dagster daemon launches, pytest-xdist's workers. tallyhouse never uses Spark
    # Connect in-process (it talks to Spark's Thrift server): GX is told it is absent.
    if "pyspark.sql.connect" not in sys.modules:
        sys.modules["pyspark.sql.connect"] = None  # type: ignore[assignment]
    # its pandas notice is noise
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def on_spark(check: Check) -> bool:
    """Whether the check reads Spark: a check of the marts on TALLYHOUSE_ENGINE=spark (the
    landing's checks read the control plane, PostgreSQL, on both engines)."""
    from tallyhouse.engine import engine

    return check.schema != "raw" and engine() == "spark"


def query_of(check: Check) -> str:
    """The check's query in the dialect of the engine it reads."""
    if on_spark(check):
        from tallyhouse.spark.checks import transpiled

        return transpiled(check.query)
    return check.query


def substituted(check: Check) -> str:
    """The check's query with the batch written out, as GX runs it."""
    return query_of(check).replace("{batch}", f"(select * from {check.relation}) as subselect")


def _rows(url: str, check: Check) -> list[dict]:
    """Every row of the check's query, from the engine it reads."""
    if on_spark(check):
        from tallyhouse.spark.checks import fetch_dicts

        return fetch_dicts(substituted(check))
    with db.cursor(url) as cur:
        cur.execute(substituted(check))  # no parameters: a % is a %
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def run_checks(url: str, checks: Iterable[Check] = CHECKS, docs_dir: Path | None = None,
               progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Run the checks as GX validations; build Data Docs into docs_dir when given."""
    gx, _ = _gx()
    say = progress or (lambda _msg: None)
    checks = list(checks)
    context = gx.get_context(mode="ephemeral")
    # no tqdm bar per expectation in the run's log: the runner says what it does
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="reconciliation",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_sql(name="warehouse",
                                          connection_string=db.sqlalchemy_url(url))
    sources = {False: source}
    if any(on_spark(check) for check in checks):
        from tallyhouse.spark import server
        from tallyhouse.spark.checks import engine_kwargs, sqlalchemy_url

        where = server.endpoint()
        sources[True] = context.data_sources.add_sql(
            name="spark", connection_string=sqlalchemy_url(where), kwargs=engine_kwargs(where))
    batches: dict[str, object] = {}
    outcomes = []
    try:
        for number, check in enumerate(checks, 1):
            started = time.perf_counter()
            try:
                outcome = _validate(url, context, sources[on_spark(check)], batches, check)
            except Exception as exc:  # a check that cannot run is a failed check, said plainly
                outcome = Outcome(check, passed=False, break_count=0,
                                  error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
            state = "passed" if outcome.passed else (
                f"ERROR {outcome.error}" if outcome.error else f"{outcome.break_count} breaks")
            say(f"[{number}/{len(checks)}] {check.name} ({check.severity}): {state} "
                f"in {outcome.seconds:.1f} s")
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            context.build_data_docs(site_names=["reconciliation"])
    finally:
        # the process may live on (Dagster, tests): keep no idle connection open — the
        # source's engine and the one its validations ran on (a connection left to be
        # closed at exit fails loudly once Spark has stopped, as the benchmark stops it)
        for each in sources.values():
            each.get_engine().dispose()
            running = getattr(getattr(each, "_execution_engine", None), "engine", None)
            if running is not None and hasattr(running, "dispose"):
                running.dispose()
    return outcomes


def _validate(url: str, context, source, batches: dict, check: Check) -> Outcome:
    gx, gxe = _gx()
    if check.relation not in batches:
        asset = source.add_table_asset(name=check.relation, table_name=check.table,
                                       schema_name=check.schema)
        batches[check.relation] = asset.add_batch_definition_whole_table("whole table")
    suite = context.suites.add(gx.ExpectationSuite(name=check.name, meta={
        "invariant": check.invariant, "severity": check.severity}))
    suite.add_expectation(gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query_of(check), description=check.description))
    validation = context.validation_definitions.add(gx.ValidationDefinition(
        name=check.name, data=batches[check.relation], suite=suite))
    result = validation.run(result_format="COMPLETE")
    return _outcome(url, check, result.results[0])


def _outcome(url: str, check: Check, result) -> Outcome:
    info = result.exception_info or {}
    raised = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    if info.get("raised_exception"):
        raised.append(info)
    if raised:
        message = raised[0].get("exception_message") or "failed"
        return Outcome(check, passed=False, break_count=0, error=str(message).splitlines()[0])
    if result.success:
        return Outcome(check, passed=True, break_count=0)
    count = int(result.result["observed_value"])
    rows = result.result["details"]["unexpected_rows"]
    if len(rows) < count:  # GX keeps the first 200: read them all
        rows = _rows(url, check)
    return Outcome(check, passed=False, break_count=count,
                   breaks=[_normalise(row) for row in rows])


def _normalise(row: dict) -> dict:
    out = {name: row.get(name) for name in BREAK_COLUMNS}
    out["feed"] = row.get("feed")
    for name in ("expected", "actual", "amount_at_stake"):
        if out[name] is not None:
            out[name] = Decimal(str(out[name]))
    unit = out["unit"] or ""
    out["currency_code"] = unit if len(unit) == 3 and unit.isalpha() and unit.isupper() else None
    out["difference"] = (out["actual"] - out["expected"]
                         if out["actual"] is not None and out["expected"] is not None else None)
    return out


def save(url: str, run_id: str, run_at: datetime, outcomes: list[Outcome]) -> None:
    """Store one run's outcomes and breaks; saving the same run again replaces it."""
    with db.cursor(url) as cur:
        cur.execute(DDL)
        cur.execute("delete from marts.rpt_reconciliation_breaks where run_id = %s", (run_id,))
        cur.execute("delete from marts.rpt_reconciliation_summary where run_id = %s", (run_id,))
        psycopg2.extras.execute_values(
            cur,
            "insert into marts.rpt_reconciliation_summary (run_id, run_at, check_name, "
            "invariant, severity, checked_table, description, passed, break_count, error, "
            "duration_seconds, carried_over_from, rule_hash) values %s",
            [(run_id, run_at, o.check.name, o.check.invariant, o.check.severity,
              o.check.relation, o.check.description, o.passed, o.break_count, o.error,
              round(o.seconds, 3), o.carried_over_from, rule_hash(o.check))
             for o in outcomes],
        )
        psycopg2.extras.execute_values(
            cur,
            "insert into marts.rpt_reconciliation_breaks (run_id, run_at, check_name, "
            "invariant, severity, break_kind, entity_type, entity_id, platform, unit, "
            "currency_code, expected, actual, difference, amount_at_stake, detail, feed) "
            "values %s",
            [(run_id, run_at, o.check.name, o.check.invariant, o.check.severity,
              b["break_kind"], b["entity_type"], b["entity_id"], b["platform"], b["unit"],
              b["currency_code"], b["expected"], b["actual"], b["difference"],
              b["amount_at_stake"], b["detail"], b["feed"])
             for o in outcomes for b in o.breaks],
            page_size=1000,
        )
        cur.execute(FIRST_SEEN, {"run_id": run_id, "run_at": run_at})


# A break is the same break in two runs when its check, kind, entity, platform and unit
# are; it keeps the first_seen_at of the run before, else it is first seen now.
BREAK_IDENTITY = ("check_name", "break_kind", "entity_type", "entity_id", "platform", "unit")
FIRST_SEEN = """
with previous as (
    select run_id from marts.rpt_reconciliation_summary
    where run_at < %(run_at)s and run_id <> %(run_id)s
    group by run_id order by max(run_at) desc limit 1
)
update marts.rpt_reconciliation_breaks as b_now
set first_seen_at = coalesce((
    select min(coalesce(b_prev.first_seen_at, b_prev.run_at))
    from marts.rpt_reconciliation_breaks as b_prev
    where b_prev.run_id = (select run_id from previous)
      and b_prev.check_name = b_now.check_name
      and b_prev.break_kind = b_now.break_kind
      and b_prev.entity_type = b_now.entity_type
      and b_prev.entity_id is not distinct from b_now.entity_id
      and b_prev.platform is not distinct from b_now.platform
      and b_prev.unit is not distinct from b_now.unit
), b_now.run_at)
where b_now.run_id = %(run_id)s
"""
