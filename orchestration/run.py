"""Running the job from the command line (``tallyhouse run``), the benchmark and the tests:
in this process, in the project's Dagster instance, with the run's resources."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration.constants import FULL_PASS_TAG, JOB_NAME, NOTIFY_TAG
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


LOG_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"


def _file_logger(path: Path) -> dg.LoggerDefinition:
    """Every Dagster log line of the run, as the console logger writes them, into a file."""

    def build(_init_context) -> logging.Logger:
        logger = logging.Logger("tallyhouse.run", level=logging.DEBUG)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        return logger

    return dg.LoggerDefinition(build, description="the run's log file")


class _EventHandler(logging.Handler):
    def __init__(self, on_event: Callable[[dg.DagsterEvent], None]):
        super().__init__(level=logging.DEBUG)
        self.on_event = on_event

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None and record.levelno >= logging.WARNING:
            # a step's own warning (the last build did not complete, raw rows were edited…):
            # said on the console of a quiet run too, not only in its log file
            event = LogWarning(meta.get("step_key"), str(meta.get("orig_message")
                                                         or record.getMessage()))
        if event is not None:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - progress never stops a run
                pass


@dataclass(frozen=True)
class LogWarning:
    """A warning a step logged, handed to ``on_event`` like Dagster's own events."""

    step_key: str | None
    message: str
    event_type_value: str = "LOG_WARNING"


def _event_logger(on_event: Callable[[dg.DagsterEvent], None]) -> dg.LoggerDefinition:
    """Dagster's structured events (step started, asset materialized…) to a callback: the
    command line's progress lines."""

    def build(_init_context) -> logging.Logger:
        logger = logging.Logger("tallyhouse.progress", level=logging.DEBUG)
        logger.addHandler(_EventHandler(on_event))
        return logger

    return dg.LoggerDefinition(build, description="progress events")


def run_job(landing: Path, url: str, wait: bool = True, rehash: bool = False,
            full_pass: bool = False, log_file: Path | None = None,
            on_event: Callable[[dg.DagsterEvent], None] | None = None,
            console: bool = True, notify: bool = True) -> RunOutcome:
    """Materialize the whole job in process. ``full_pass``: every model rebuilt from raw
    and every test over whole tables (what Sunday's scheduled run does). ``log_file``: the
    run's Dagster log also goes there; ``on_event``: each Dagster event is handed to it;
    ``console``: Dagster's own console logger (off for a quiet run); ``notify``: the digest
    and a failed-run alert go to the configured channels (``--no-notify``: they do not)."""
    from tallyhouse.dbt import ensure_manifest

    dagster_home()
    ensure_manifest()  # the definitions read the dbt manifest; parse only when files changed
    os.environ["TALLYHOUSE_LANDING"] = str(landing)
    from orchestration.definitions import defs
    from orchestration.resources import LandingResource, RunLockResource, WarehouseResource

    job = defs.resolve_job_def(JOB_NAME)
    loggers: dict[str, dg.LoggerDefinition] = {}
    logger_config: dict = {}
    if console:
        loggers["console"] = dg.colored_console_logger
        logger_config["console"] = {"config": {"log_level": "INFO"}}
    # a logger runs only when the run's configuration names it
    if log_file is not None:
        loggers["run_file"] = _file_logger(log_file)
        logger_config["run_file"] = {}
    if on_event is not None:
        loggers["progress"] = _event_logger(on_event)
        logger_config["progress"] = {}
    if loggers:
        job = job.with_logger_defs(loggers)
    os.environ[RUN_URL_ENV] = url
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"warehouse": WarehouseResource(database_url=dg.EnvVar(RUN_URL_ENV)),
                       "run_lock": RunLockResource(database_url=dg.EnvVar(RUN_URL_ENV),
                                                   wait=wait),
                       "landing": LandingResource(path=str(landing), rehash=rehash)},
            raise_on_error=False,
            tags={**({FULL_PASS_TAG: "true"} if full_pass else {}),
                  **({} if notify else {NOTIFY_TAG: "false"})} or None,
            run_config={"loggers": logger_config},
        )
        steps = {
            stats.step_key: round((stats.end_time or stats.start_time) - stats.start_time, 2)
            for stats in instance.get_run_step_stats(result.run_id)
            if stats.start_time is not None
        }
    return RunOutcome(run_id=result.run_id, success=result.success,
                      busy=not result.success and _busy(result), step_seconds=steps,
                      dagster_result=result)


def prune_run_history(days: int, dry_run: bool = False) -> int:
    """Delete the finished runs older than ``days`` from the run history, with their
    events and captured logs; the number of runs (that would be) deleted."""
    import shutil
    from datetime import UTC, datetime, timedelta

    storage = dagster_home()
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(created_before=cutoff))
        finished = [r.dagster_run.run_id for r in records if r.dagster_run.is_finished]
        if not dry_run:
            for run_id in finished:
                instance.delete_run(run_id)
                shutil.rmtree(storage / run_id, ignore_errors=True)
    return len(finished)
