"""The digest: after the report, the run's verdict goes to finance by e-mail and chat.

Runs started by the schedule, the command line and the UI send it; runs started by the
new-files sensor do not (the receiver closes files every 10 s: the 06:00 run is the
day's digest), unless tagged ``tallyhouse/notify=true``; ``tallyhouse/notify=false``
(``tallyhouse run --no-notify``) sends nothing. The step never fails the run: a channel
that cannot be reached is retried, then recorded, and the next report shows it.
"""

import dagster as dg

from orchestration.constants import NOTIFY_TAG
from orchestration.defs.reconciliation.assets import REPORT_KEY
from orchestration.resources import WarehouseResource

DIGEST_KEY = dg.AssetKey(["reports", "reconciliation_digest"])


def digest_wanted(tags: dict[str, str]) -> bool:
    wanted = (tags.get(NOTIFY_TAG) or "").lower()
    if wanted in ("false", "0", "no", "off"):
        return False
    if wanted in ("true", "1", "yes", "on"):
        return True
    return tags.get("trigger") != "new_files"


@dg.asset(
    key=DIGEST_KEY,
    deps=[REPORT_KEY],
    group_name="reconciliation",
    kinds={"email", "slack"},
    description="The reconciliation digest sent to the configured channels (e-mail over "
                "SMTP, Slack, Teams, Google Chat) after the report; deliveries recorded in "
                "marts.rpt_notification_deliveries. Never fails the run.",
)
def reconciliation_digest(context: dg.AssetExecutionContext,
                          warehouse: WarehouseResource) -> dg.MaterializeResult:
    if not digest_wanted(context.run.tags):
        context.log.info("No digest for this run (started by the new-files sensor, or "
                         f"tagged {NOTIFY_TAG}=false).")
        return dg.MaterializeResult(metadata={"sent": False, "why": "not for this run"})
    try:
        from tallyhouse.notify import send_digest

        outcome = send_digest(warehouse.url(), context.run_id)
    except Exception as exc:  # noqa: BLE001 - telling finance never fails the books
        context.log.warning(f"The digest could not be prepared: {type(exc).__name__}")
        return dg.MaterializeResult(metadata={"sent": False,
                                              "why": f"could not be prepared: "
                                                     f"{type(exc).__name__}"})
    if outcome.message is None or not outcome.deliveries:
        context.log.info(f"No digest sent: {outcome.skipped}.")
        return dg.MaterializeResult(metadata={"sent": False, "why": outcome.skipped})
    for d in outcome.deliveries:
        log = context.log.info if d.delivered else context.log.warning
        log(f"Digest to {d.channel}: {'delivered' if d.delivered else 'NOT delivered'} "
            f"after {d.attempts} attempt(s) ({d.detail})")
    return dg.MaterializeResult(metadata={
        "sent": True,
        "subject": outcome.message.subject,
        "deliveries": ", ".join(f"{d.channel}: {'delivered' if d.delivered else 'failed'}"
                                for d in outcome.deliveries),
    })
