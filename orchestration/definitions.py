"""Dagster entry point (``dagster dev -m orchestration.definitions``, ``dg list defs``):
every definition under ``orchestration/defs/``, found by dg's conventions — loaders in
``ingest/``, dbt in ``transform/``, checks and the report in ``reconciliation/``, the job in
``jobs.py``, the schedule in ``schedules/``, the sensor in ``sensors/``, resources in
``resources.py``.

Importing it starts no database and runs no dbt: the dbt manifest is prepared beforehand
(``tallyhouse run`` / ``tallyhouse dev`` / ``make manifest`` / the tests), or by dagster-dbt
itself under ``dagster dev``.
"""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
