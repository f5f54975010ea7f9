"""Running the job from the command line (``tallyhouse run``), the benchmark and the tests:
in this process, in the project's Dagster instance, with the run's resources."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration.constants import FULL_PASS_TAG, JOB_NAME
from tallyhouse.config import project_root, state_dir

# The database URL reaches the run through an environment variable: Dagster's run history
# records the variable's name, never the URL (which may carry a password).
RUN_URL_ENV = "TALLYHOUSE_RUN_DATABASE_URL"
BUSY_MESSAGE = "is in progress; this run did not start"


def dagster_home() -> Path:
    """The committed instance (orchestration/dagster_home/dagster.yaml); its run history
    and logs in the state folder (.tallyhouse/dagster)."""
    storage = state_dir() / "dagster"
    storage.mkdir(parents=True, exist_ok=True)
    os.environ["TALLYHOUSE_DAGSTER_STORAGE"] = str(storage)
    home = project_root() / "orchestration" / "dagster_home"
    os.environ["DAGSTER_HOME"] = str(home)
    return storage


@dataclass(frozen=True)
class RunOutcome:
    """What a run did: its id, whether it succeeded, whether it never started because
    another run held the lock, the wall time of each step, and Dagster's own result (asset
    and check events) for the summary."""

    run_id: str
    success: bool
    busy: bool
    step_seconds: dict[str, float] = field(default_factory=dict)
    dagster_result: dg.ExecuteInProcessResult | None = None


def _busy(result: dg.ExecuteInProcessResult) -> bool:
    failures = [e for e in result.all_events
                if e.event_type in (dg.DagsterEventType.STEP_FAILURE,
                                    dg.DagsterEventType.RUN_FAILURE)]
    return bool(failures) and any(BUSY_MESSAGE in str(e.message) for e in failures)


def run_job(landing: Path, url: str, wait: bool = True, rehash: bool = False,
            full_pass: bool = False) -> RunOutcome:
    """Materialize the whole job in process. ``full_pass``: every model rebuilt from raw
    and every test over whole tables (what Sunday's scheduled run does)."""
    from tallyhouse.dbt import ensure_manifest

    dagster_home()
    ensure_manifest()  # the definitions read the dbt manifest; parse only when files changed
    os.environ["TALLYHOUSE_LANDING"] = str(landing)
    from orchestration.definitions import defs
    from orchestration.resources import LandingResource, RunLockResource, WarehouseResource

    job = defs.resolve_job_def(JOB_NAME)
    os.environ[RUN_URL_ENV] = url
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"warehouse": WarehouseResource(database_url=dg.EnvVar(RUN_URL_ENV)),
                       "run_lock": RunLockResource(database_url=dg.EnvVar(RUN_URL_ENV),
                                                   wait=wait),
                       "landing": LandingResource(path=str(landing), rehash=rehash)},
            raise_on_error=False,
            tags={FULL_PASS_TAG: "true"} if full_pass else None,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        steps = {
            stats.step_key: round((stats.end_time or stats.start_time) - stats.start_time, 2)
            for stats in instance.get_run_step_stats(result.run_id)
            if stats.start_time is not None
        }
    return RunOutcome(run_id=result.run_id, success=result.success,
                      busy=not result.success and _busy(result), step_seconds=steps,
                      dagster_result=result)
