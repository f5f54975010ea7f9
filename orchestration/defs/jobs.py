"""The one job: load every landing source, build the marts, check and report."""

import dagster as dg

from orchestration.constants import JOB_NAME


@dg.failure_hook(name="mark_report_stale")
def mark_report_stale(context: dg.HookContext) -> None:
    """A failed run leaves no earlier report looking current: the day's report says so."""
    from tallyhouse.reconciliation.report import mark_failed_run

    error = context.op_exception
    path = mark_failed_run(context.run_id, context.step_key or "?",
                           f"{type(error).__name__}: {error}" if error else "failed")
    context.log.warning(f"Run failed at step {context.step_key}; marked {path}")


tallyhouse_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Load every landing source, build the marts, check and report.",
    # One process for the whole run: the run lock resource is held from the first step to
    # the last (see orchestration.resources.RunLockResource).
    executor_def=dg.in_process_executor,
    hooks={mark_report_stale},
)
