"""When the job runs because data arrived: new files in landing/ (a receiver closing a
file of webhooks, an export dropped in a folder) start a run within seconds.

How often landing/ is looked at: ``TALLYHOUSE_SENSOR_SECONDS`` (default 10; Dagster's sensor
loop does not look more often than every 5 s). While a run of the job is queued, no other
run is asked for: the queued run loads every file that is there when it starts, so a burst
of deliveries does not pile up runs that would each find nothing.
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
ENDED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
         dg.DagsterRunStatus.CANCELED)


def sensor_seconds() -> int:
    """``TALLYHOUSE_SENSOR_SECONDS``, a whole number of seconds ≥ 5 (a bad value: the
    default, never a sensor that does not start)."""
    try:
        value = int(os.environ.get("TALLYHOUSE_SENSOR_SECONDS", DEFAULT_SENSOR_SECONDS))
    except ValueError:
        return DEFAULT_SENSOR_SECONDS
    return max(5, value)


def landed_names(landing) -> list[str]:
    """The relative paths of the files under landing/<source>/ the loaders would read."""
    return [path.relative_to(landing).as_posix()
            for source in SOURCES for path in landing_files(landing, source)]


def new_files(landing, known: set[str], names: list[str] | None = None
              ) -> list[tuple[str, int, int]]:
    """Files under landing/<source>/ (``names``, when listed already) whose relative path is
    not in raw._manifest yet."""
    found = []
    for rel in landed_names(landing) if names is None else names:
        if rel not in known:
            try:
                stat = (landing / rel).lstat()
            except FileNotFoundError:  # moved away (archived, erased) since it was listed
                continue
            found.append((rel, stat.st_size, stat.st_mtime_ns))
    return found


def loaded_file_names(url: str, candidates: list[str] | None = None) -> set[str]:
    """The names in raw._manifest; with ``candidates``, only those of them (the sensor asks
    every few seconds: it reads the rows of the files in landing/, by the manifest's
    file-name index, not every file ever loaded)."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cur:
            cur.execute("select to_regclass('raw._manifest') is not null")
            if not cur.fetchone()[0]:
                return set()
            if candidates is None:
                cur.execute("select file_name from raw._manifest")
            else:
                cur.execute("select file_name from raw._manifest where file_name = any(%s)",
                            (candidates,))
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
    folder = landing.folder()
    names = landed_names(folder)
    fresh = new_files(folder, loaded_file_names(warehouse.url(), names), names)
    if not fresh:
        return dg.SkipReason(f"no new file in {folder}")
    instance = context.instance
    if instance.get_runs_count(dg.RunsFilter(job_name=JOB_NAME,
                                             statuses=[dg.DagsterRunStatus.QUEUED])):
        return dg.SkipReason(f"{len(fresh)} new file(s); a run that has not started yet will "
                             "load them")
    # One run per set of new files and attempt: the same files seen again while a run loads
    # them do not start a second run (Dagster drops a request whose key was used), but once
    # that run has ended without loading them (cancelled in the queue, failed before its
    # load committed) the key is new and they are asked for again.
    ended = instance.get_runs(dg.RunsFilter(job_name=JOB_NAME, statuses=list(ENDED)),
                              limit=1)
    attempt = ended[0].run_id if ended else ""
    key = hashlib.sha256(repr((sorted(fresh), attempt)).encode()).hexdigest()[:16]
    context.log.info(f"{len(fresh)} new file(s), e.g. {fresh[0][0]}")
    return dg.RunRequest(run_key=key, tags={"trigger": "new_files",
                                            "new_files": str(len(fresh))})
