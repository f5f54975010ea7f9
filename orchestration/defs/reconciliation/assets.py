"""The reconciliation invariants as Dagster asset checks, and the report they feed.

One ``multi_asset_check`` runs every Great Expectations check in a single step (one GX
context, one Data Docs build) and reports each as an asset check on the table it tests.
Structural checks have ERROR severity, money breaks WARN; neither stops the run: every
finding is listed and stored, and the report is always written, structural findings first.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.ingest.assets import feed_key
from orchestration.resources import RunLockResource, WarehouseResource
from tallyhouse.money import format_amount
from tallyhouse.reconciliation.checks import CHECKS, ERROR, Check
from tallyhouse.sources import FEEDS

REPORT_KEY = dg.AssetKey(["reports", "reconciliation_report"])


def check_keys(check: Check) -> list[dg.AssetKey]:
    if check.per_feed:
        return [feed_key(feed.source, feed.name) for feed in FEEDS]
    return [dg.AssetKey([check.schema, check.table])]


def _specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            check.name, asset=key, description=check.description,
            # Findings never stop the run: the report is always written and leads with
            # the structural ones (`tallyhouse run --strict` exits non-zero on them).
            blocking=False,
            metadata={"invariant": check.invariant, "severity": check.severity,
                      "great_expectations": "UnexpectedRowsExpectation"},
        )
        for check in CHECKS for key in check_keys(check)
    ]


SPECS = _specs()
CHECKED_ASSETS = sorted({key for check in CHECKS if not check.per_feed
                         for key in check_keys(check)}, key=lambda k: k.to_user_string())


@dg.multi_asset_check(
    specs=SPECS,
    name="reconciliation_checks",
    description="Great Expectations reconciliation checks; every failing row is stored in "
                "marts.rpt_reconciliation_breaks and each outcome in "
                "marts.rpt_reconciliation_summary.",
)
def reconciliation_checks(context: dg.AssetCheckExecutionContext,
                          warehouse: WarehouseResource, run_lock: RunLockResource):
    from tallyhouse.reconciliation.report import run_folder
    from tallyhouse.reconciliation.runner import carry_over, run_checks, save, stakes

    url = warehouse.url()
    run_at = datetime.now(UTC)
    outcomes = carry_over(url)
    if outcomes is not None:
        context.log.info(f"Nothing loaded or rebuilt since run {outcomes[0].carried_over_from}"
                         f": its {len(outcomes)} check results are carried over, marked so.")
    else:
        outcomes = run_checks(url, docs_dir=run_folder(run_at) / "data_docs",
                              progress=context.log.info)
    save(url, context.run.run_id, run_at, outcomes)
    per_check = stakes(url, context.run.run_id, by=("check_name",))
    per_feed = stakes(url, context.run.run_id, by=("check_name", "feed"))
    for outcome in outcomes:
        check = outcome.check
        severity = (dg.AssetCheckSeverity.ERROR if check.severity == ERROR
                    else dg.AssetCheckSeverity.WARN)
        for key in check_keys(check):
            rows = outcome.breaks
            if check.per_feed:
                rows = [b for b in rows if b["feed"] == key.path[-1]]
            passed = outcome.error is None and not rows
            at_stake = (per_feed.get((check.name, key.path[-1]), {}) if check.per_feed
                        else per_check.get((check.name,), {}))
            metadata = {
                "breaks": len(rows),
                "amount_at_stake": ", ".join(format_amount(v, u) for u, v in
                                             sorted(at_stake.items())) or "none",
                "seconds": round(outcome.seconds, 3),
            }
            if outcome.error:
                metadata["error"] = outcome.error
            if outcome.carried_over_from:
                metadata["carried_over_from_run"] = outcome.carried_over_from
            if rows:
                metadata["first_breaks"] = dg.MetadataValue.md(_table(rows[:20]))
            yield dg.AssetCheckResult(asset_key=key, check_name=check.name, passed=passed,
                                      severity=severity, metadata=metadata)


def _table(rows: list[dict]) -> str:
    lines = ["| kind | entity | platform | expected | actual | at stake |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        unit = row["currency_code"] or row["unit"]
        lines.append(f"| {row['break_kind']} | {row['entity_id']} | {row['platform']} | "
                     f"{format_amount(row['expected'], unit)} | "
                     f"{format_amount(row['actual'], unit)} | "
                     f"{format_amount(row['amount_at_stake'], unit)} |")
    return "\n".join(lines)


@dg.asset(
    key=REPORT_KEY,
    deps=CHECKED_ASSETS,
    group_name="reconciliation",
    kinds={"html"},
    description="reports/<run date>/reconciliation.html (for finance) and breaks.csv, from "
                "this run's checks, whatever they found.",
)
def reconciliation_report(context: dg.AssetExecutionContext,
                          warehouse: WarehouseResource,
                          run_lock: RunLockResource) -> dg.MaterializeResult:
    from tallyhouse.reconciliation.report import write_report

    written = write_report(warehouse.url(), context.run_id)
    context.log.info(f"Reconciliation report: {written.html_path} "
                     f"({written.checks} checks, {written.failed_checks} with breaks, "
                     f"{written.breaks} breaks)")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(written.html_path)),
        "breaks_csv": dg.MetadataValue.path(str(written.csv_path)),
        "checks": written.checks,
        "failed_checks": written.failed_checks,
        "breaks": written.breaks,
    })
