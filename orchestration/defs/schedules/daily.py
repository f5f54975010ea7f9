"""When the job runs on a clock: every morning at 06:00 in the business time zone (the dbt
var ``business_time_zone``, the zone the marts' days follow; America/Sao_Paulo by default);
Sunday's run is the full pass.

The job is idempotent (files are loaded once, by content; marts rebuild incrementally), so a
run started by both the schedule and the new-files sensor does no harm and loads nothing
twice.
"""

from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.constants import FULL_PASS_TAG, JOB_NAME
from tallyhouse.config import business_time_zone

# one business time zone for the clock and the marts: read from the dbt project
BUSINESS_ZONE = business_time_zone()


@dg.schedule(
    name="daily_reconciliation",
    cron_schedule="0 6 * * *",
    execution_timezone=BUSINESS_ZONE,
    job_name=JOB_NAME,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Load, build, check and write the reconciliation report every day at 06:00 "
                f"({BUSINESS_ZONE}, the marts' business time zone). Weekdays and Saturday "
                "build what changed; Sunday's run is the full pass: every model rebuilt from "
                "raw and every test and check over whole tables.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time
    full_pass = when is not None and when.astimezone(ZoneInfo(BUSINESS_ZONE)).weekday() == 6
    tags = {"trigger": "schedule"}
    if full_pass:
        tags[FULL_PASS_TAG] = "true"
    return dg.RunRequest(tags=tags)
