"""When the job runs because data arrived: new files in landing/ (a receiver closing a
file of webhooks, an export dropped in a folder) start a run within seconds.

How often landing/ is looked at: ``TALLYHOUSE_SENSOR_SECONDS`` (default 10; Dagster's sensor
loop does not look more often than every 5 s). While a run of the job is queued and not yet
started, no other run is asked for: the queued run loads every file that is there when it
starts, so a burst of deliveries does not pile up runs that would each find nothing.
"""

import hashlib
import os

import dagster as dg
import psycopg2

from orchestration.constants import JOB_NAME
from orchestration.resources import LandingResource, WarehouseResource
from tallyhouse.ingest import landing_files
from tallyhouse.sources import SOURCES

DEFAULT_SENSOR_SECONDS = 10
WAITING = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)


def sensor_seconds() -> int:
    """``TALLYHOUSE_SENSOR_SECONDS``, a whole number of seconds ≥ 5 (a bad value: the
    default, never a sensor that does not start)."""
    try:
        value = int(os.environ.get("TALLYHOUSE_SENSOR_SECONDS", DEFAULT_SENSOR_SECONDS))
    except ValueError:
        return DEFAULT_SENSOR_SECONDS
    return max(5, value)


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
    minimum_interval_seconds=sensor_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the job when files that were never loaded appear in landing/.",
)
def new_landing_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                      landing: LandingResource):
    fresh = new_files(landing.folder(), loaded_file_names(warehouse.url()))
    if not fresh:
        return dg.SkipReason(f"no new file in {landing.folder()}")
    waiting = context.instance.get_runs_count(
        dg.RunsFilter(job_name=JOB_NAME, statuses=list(WAITING)))
    if waiting:
        return dg.SkipReason(f"{len(fresh)} new file(s); a run that has not started yet will "
                             "load them")
    # one run per set of new files: the same files seen again while a run loads them do not
    # start a second run
    key = hashlib.sha256(repr(sorted(fresh)).encode()).hexdigest()[:16]
    context.log.info(f"{len(fresh)} new file(s), e.g. {fresh[0][0]}")
    return dg.RunRequest(run_key=key, tags={"trigger": "new_files",
                                            "new_files": str(len(fresh))})
