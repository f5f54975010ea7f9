"""When the job runs: every morning at 06:00 São Paulo time, and when new files land.

The job is idempotent (files are loaded once, by content; marts rebuild incrementally), so a
run started by both the schedule and the sensor does no harm and loads nothing twice.
"""

import hashlib
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg2

from orchestration.resources import LandingResource, WarehouseResource
from tallyhouse.ingest import landing_files
from tallyhouse.sources import SOURCES

JOB_NAME = "tallyhouse"

FULL_PASS_TAG = "tallyhouse/full_pass"
BUSINESS_ZONE = "America/Sao_Paulo"


@dg.schedule(
    name="daily_reconciliation",
    cron_schedule="0 6 * * *",
    execution_timezone=BUSINESS_ZONE,
    job_name=JOB_NAME,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Load, build, check and write the reconciliation report every day at 06:00 "
                "(America/Sao_Paulo). Weekdays and Saturday build what changed; Sunday's run "
                "is the full pass: every model rebuilt from raw and every test and check "
                "over whole tables.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time
    full_pass = when is not None and when.astimezone(ZoneInfo(BUSINESS_ZONE)).weekday() == 6
    tags = {"trigger": "schedule"}
    if full_pass:
        tags[FULL_PASS_TAG] = "true"
    return dg.RunRequest(tags=tags)


def new_files(landing, known: set[str]) -> list[tuple[str, int, int]]:
    """Files under landing/<source>/ whose relative path is not in raw._manifest yet."""
    found = []
    for source in SOURCES:
        for path in landing_files(landing, source):
            rel = path.relative_to(landing).as_posix()
            if rel not in known:
                stat = path.lstat()
                found.append((rel, stat.st_size, stat.st_mtime_ns))
    return found


def loaded_file_names(url: str) -> set[str]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cur:
            cur.execute("select to_regclass('raw._manifest') is not null")
            if not cur.fetchone()[0]:
                return set()
            cur.execute("select file_name from raw._manifest")
            return {name for (name,) in cur.fetchall()}
    finally:
        connection.close()


@dg.sensor(
    name="new_landing_files",
    job_name=JOB_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the job when files that were never loaded appear in landing/.",
)
def new_landing_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                      landing: LandingResource):
    fresh = new_files(landing.folder(), loaded_file_names(warehouse.url()))
    if not fresh:
        return dg.SkipReason(f"no new file in {landing.folder()}")
    # one run per set of new files: the same files seen again while a run loads them do not
    # start a second run
    key = hashlib.sha256(repr(sorted(fresh)).encode()).hexdigest()[:16]
    context.log.info(f"{len(fresh)} new file(s), e.g. {fresh[0][0]}")
    return dg.RunRequest(run_key=key, tags={"trigger": "new_files",
                                            "new_files": str(len(fresh))})
