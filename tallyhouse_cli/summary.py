"""What `tallyhouse run` prints when a run ends: what was loaded, the marts, the checks that
did not pass and the reconciliation's verdict, as plain tables (rich) that read the same in
a terminal, a log file or a CI transcript."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table

from tallyhouse import db
from tallyhouse.config import state_dir
from tallyhouse.money import amounts_line, format_count


def console() -> Console:
    # never colour codes or box-drawing in a file or a pipe; wide enough not to wrap a row
    return Console(highlight=False, markup=False, soft_wrap=True, width=120)


def _table(*columns: tuple[str, str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for title, justify in columns:
        table.add_column(title, justify=justify, no_wrap=True)
    return table


def _spark_mart_rows() -> list[tuple[str, int]]:
    """(table, rows) of Spark's marts, counted in one query; none when Spark cannot say."""
    try:
        from tallyhouse.spark import checks, server

        where = server.endpoint(start=False)
        names = sorted(str(row[1]) for row in checks.fetch_rows("show tables in marts", where)
                       if not row[-1])  # not a temporary view
        if not names:
            return []
        union = " union all ".join(f"select '{name}' as name, count(*) as n from marts.`{name}`"
                                   for name in names if name.replace("_", "").isalnum())
        return [(str(name), int(n)) for name, n in checks.fetch_rows(union, where)]
    except Exception:  # noqa: BLE001 - the summary is a courtesy; the run has its own outcome
        return []


def print_run_summary(url: str, since: datetime, outcome, elapsed: float) -> list[str]:
    """Print what the run did; return the structural checks that found something."""
    out = console()
    with db.cursor(url) as cur:
        cur.execute(
            """
            select source, count(*), coalesce(sum(records_in_file), 0),
                   coalesce(sum(records_landed), 0), coalesce(sum(records_quarantined), 0),
                   coalesce(sum(records_duplicate), 0),
                   count(*) filter (where status in ('changed_content', 'rejected'))
            from raw._manifest where loaded_at >= %s group by source order by source
            """,
            (since,),
        )
        rows = cur.fetchall()
        cur.execute("select count(*) from raw._quarantine")
        quarantine_total = cur.fetchone()[0]
        cur.execute("select table_name from information_schema.tables "
                    "where table_schema = 'marts' order by table_name")
        marts = [name for (name,) in cur.fetchall()]
        mart_rows = []
        for name in marts:
            cur.execute(f'select count(*) from marts."{name}"')
            mart_rows.append((name, cur.fetchone()[0]))
    where_built = "schema marts"
    from tallyhouse.engine import engine

    if engine() == "spark":
        # the marts dbt builds are Spark's; PostgreSQL's marts schema holds the run history
        where_built = "schema marts, on Spark; run history in PostgreSQL"
        on_spark = _spark_mart_rows()
        history = [(name, rows) for name, rows in mart_rows
                   if name.startswith(("rpt_reconciliation_", "rpt_notification_"))]
        mart_rows = sorted(on_spark + history)
    out.print()
    out.print("Loaded this run:")
    if not rows:
        out.print("  nothing new (every file was already loaded)")
    else:
        loaded = _table(("source", "left"), ("files", "right"), ("records", "right"),
                        ("landed", "right"), ("quarantined", "right"),
                        ("duplicates", "right"), ("flagged", "right"))
        for source, files, records, landed, quarantined, duplicates, flagged in rows:
            loaded.add_row(source, f"{files:,}", f"{records:,}", f"{landed:,}",
                           f"{quarantined:,}", f"{duplicates:,}", f"{flagged:,}")
        out.print(loaded)
    if mart_rows:
        out.print()
        out.print(f"Marts ({where_built}): {len(mart_rows)} tables, rows:")
        # three to a line: the whole summary fits a screen
        columns = 3
        table = Table(box=None, show_header=False, show_edge=False, pad_edge=False,
                      padding=(0, 1))
        for _ in range(columns):
            table.add_column(justify="left", no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
        height = -(-len(mart_rows) // columns)
        for row in range(height):
            cells = []
            for column in range(columns):
                index = column * height + row
                name, count = mart_rows[index] if index < len(mart_rows) else ("", None)
                cells += ["  " + name if column == 0 else "   " + name,
                          "" if count is None else f"{count:,}"]
            table.add_row(*cells)
        out.print(table)
    result = outcome.dagster_result
    failed_checks: dict[tuple[str, str], list[str]] = {}
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            failed_checks.setdefault((evaluation.severity.value, evaluation.check_name),
                                     []).append(evaluation.asset_key.to_user_string())
    out.print()
    if failed_checks:
        out.print("Checks that did not pass:")
        for (severity, name), keys in sorted(failed_checks.items()):
            where = keys[0] if len(keys) == 1 else f"{keys[0]} and {len(keys) - 1} more"
            out.print(f"  [{severity}] {name} on {where}")
    elif outcome.success:
        out.print("All checks passed.")
    else:
        # a run that failed never says its checks passed: some did not run at all
        out.print("The run failed before every check could run: no verdict on the books "
                  "from this run.")
    structural = print_reconciliation(url, outcome, out)
    status = "succeeded" if outcome.success else "FAILED"
    out.print()
    out.print(f"Run {outcome.run_id[:8]} {status} in {elapsed:.1f}s.")
    out.print(f"  Quarantine: {quarantine_total:,} records in raw._quarantine "
              "(file, line, reason, raw text)")
    out.print("  Inspect:    tallyhouse sql   (the marts, read-only); tallyhouse db psql --owner "
              "(raw.*, raw._manifest, raw._quarantine)")
    out.print(f"  Run history: {state_dir() / 'dagster'}  (tallyhouse up: the Dagster UI on "
              "http://127.0.0.1:3000)")
    out.print("  Dashboards: tallyhouse up (or: tallyhouse dashboard; http://127.0.0.1:8501)")
    return structural


def print_reconciliation(url: str, outcome, out: Console) -> list[str]:
    """The reconciliation's verdict for the run: checks, breaks, what is at stake per
    currency, where the report is; returns the structural checks with findings."""
    from tallyhouse.reconciliation.report import run_folder
    from tallyhouse.reconciliation.runner import stakes

    with db.cursor(url) as cur:
        cur.execute("select to_regclass('marts.rpt_reconciliation_summary') is not null")
        if not cur.fetchone()[0]:
            out.print()
            out.print("Reconciliation: the checks did not run (see the errors above).")
            return []
        cur.execute("select count(*), count(*) filter (where not passed), "
                    "coalesce(sum(break_count), 0), max(run_at), "
                    "string_agg(check_name, ', ') filter (where not passed and "
                    "severity = 'ERROR') from marts.rpt_reconciliation_summary "
                    "where run_id = %s", (outcome.run_id,))
        checks, failed, breaks, run_at, structural = cur.fetchone()
        at_stake = amounts_line(stakes(cur, outcome.run_id), ", ")
    out.print()
    if not checks:
        out.print("Reconciliation: the checks did not run (see the errors above).")
        return []
    out.print(f"Reconciliation: {checks} checks, {failed} with breaks, "
              f"{format_count(breaks)} breaks found"
              + (f" (at stake: {at_stake})" if at_stake else "") + ".")
    report = run_folder(run_at) / "reconciliation.html"
    materialized = outcome.dagster_result.get_asset_materialization_events()
    written = any(event.asset_key is not None and event.asset_key.path[-1] ==
                  "reconciliation_report" for event in materialized)
    if structural:
        out.print(f"  Structural findings (the report leads with them): {structural}.")
    if written:
        out.print(f"  Report:     {report}")
        out.print(f"  Breaks:     {report.with_name('breaks.csv')}  "
                  "(and table marts.rpt_reconciliation_breaks)")
    else:
        out.print("  The report was not written this run (see the errors above).")
    digest = next((event for event in materialized if event.asset_key is not None
                   and event.asset_key.path[-1] == "reconciliation_digest"), None)
    if digest is not None:
        metadata = digest.materialization.metadata
        sent = getattr(metadata.get("sent"), "value", False)
        if sent:
            out.print(f"  Digest:     {getattr(metadata.get('deliveries'), 'value', '')}")
        else:
            why = getattr(metadata.get("why"), "value", "")
            out.print(f"  Digest:     not sent ({why}; tallyhouse notify --test)")
    return structural.split(", ") if structural else []
