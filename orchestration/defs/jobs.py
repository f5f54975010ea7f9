"""The one job: load every landing source, build the marts, check and report."""

import dagster as dg

from orchestration.constants import JOB_NAME, NOTIFY_TAG

_ALERTED: set[str] = set()  # one alert per run, whatever number of its steps fail


@dg.failure_hook(name="mark_report_stale", required_resource_keys={"warehouse"})
def mark_report_stale(context: dg.HookContext) -> None:
    """A failed run leaves no earlier report looking current: the day's report says so,
    and finance is told (the failed-run alert: the step and the time)."""
    from datetime import UTC, datetime

    from tallyhouse.reconciliation.report import mark_failed_run

    error = context.op_exception
    message = f"{type(error).__name__}: {error}" if error else "failed"
    now = datetime.now(UTC)
    path = mark_failed_run(context.run_id, context.step_key or "?", message, now=now)
    context.log.warning(f"Run failed at step {context.step_key}; marked {path}")
    run = context.instance.get_run_by_id(context.run_id) if context.instance else None
    tags = run.tags if run else {}
    if context.run_id in _ALERTED or (tags.get(NOTIFY_TAG) or "").lower() == "false":
        return
    _ALERTED.add(context.run_id)
    try:
        from tallyhouse.notify import send_failure_alert

        url = context.resources.warehouse.url()
        outcome = send_failure_alert(context.run_id, context.step_key or "?", message, now,
                                     url=url, report=path)
        for d in outcome.deliveries:
            context.log.warning(f"Failed-run alert to {d.channel}: "
                                f"{'delivered' if d.delivered else 'NOT delivered'} ({d.detail})")
    except Exception as exc:  # noqa: BLE001 - the alert never hides the failure itself
        context.log.warning(f"The failed-run alert could not be sent: {type(exc).__name__}")


tallyhouse_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Load every landing source, build the marts, check and report.",
    # One process for the whole run: the run lock resource is held from the first step to
    # the last (see orchestration.resources.RunLockResource).
    executor_def=dg.in_process_executor,
    hooks={mark_report_stale},
)
