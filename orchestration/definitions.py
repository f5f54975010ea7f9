"""Dagster entry point: ``dagster dev -m orchestration.definitions``."""

import dagster as dg

from orchestration.defs.ingest.assets import loader_assets
from orchestration.defs.reconciliation.assets import reconciliation_checks, reconciliation_report
from orchestration.defs.schedules.triggers import daily_schedule, new_landing_files
from orchestration.defs.transform.assets import dbt_models, dbt_resource
from orchestration.resources import default_resources


@dg.failure_hook(name="mark_report_stale")
def mark_report_stale(context: dg.HookContext) -> None:
    """A failed run leaves no earlier report looking current: the day's report says so."""
    from tallyhouse.reconciliation.report import mark_failed_run

    error = context.op_exception
    path = mark_failed_run(context.run_id, context.step_key or "?",
                           f"{type(error).__name__}: {error}" if error else "failed")
    context.log.warning(f"Run failed at step {context.step_key}; marked {path}")


tallyhouse_job = dg.define_asset_job(
    "tallyhouse",
    selection=dg.AssetSelection.all(),
    description="Load every landing source, build the marts, check and report.",
    # One process for the whole run: the run lock resource is held from the first step to
    # the last (see orchestration.resources.RunLockResource).
    executor_def=dg.in_process_executor,
    hooks={mark_report_stale},
)

defs = dg.Definitions(
    assets=[*loader_assets, dbt_models, reconciliation_report],
    asset_checks=[reconciliation_checks],
    jobs=[tallyhouse_job],
    schedules=[daily_schedule],
    sensors=[new_landing_files],
    resources={**default_resources(), "dbt": dbt_resource()},
)
