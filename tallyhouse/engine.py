"""Which engine holds the warehouse: PostgreSQL (the default) or Apache Spark.

``TALLYHOUSE_ENGINE`` (``postgres`` or ``spark``; ``--engine`` on the commands that take it)
chooses. On Spark the dbt project builds through dbt-spark against a Spark Thrift server:
tallyhouse's own local one (``tallyhouse spark start``), or a cluster's when
``TALLYHOUSE_SPARK_THRIFT_URL`` points at it. The control plane (manifest, quarantine, run
lock, build state, reconciliation history) stays in PostgreSQL on both engines.
"""

from __future__ import annotations

import os

ENGINE_ENV = "TALLYHOUSE_ENGINE"
ENGINES = ("postgres", "spark")
DEFAULT_ENGINE = "postgres"


class EngineError(ValueError):
    """The engine setting names no engine tallyhouse knows."""


def engine(value: str | None = None) -> str:
    """The engine in use: ``value`` when given (a command's ``--engine``), else
    TALLYHOUSE_ENGINE, else PostgreSQL. Case and surrounding spaces do not matter."""
    raw = value if value is not None else os.environ.get(ENGINE_ENV, "")
    chosen = raw.strip().lower() or DEFAULT_ENGINE
    if chosen in ("postgresql", "pg"):
        chosen = "postgres"
    if chosen not in ENGINES:
        raise EngineError(
            f"{ENGINE_ENV}={raw!r} is not an engine tallyhouse runs on: use one of "
            + ", ".join(ENGINES))
    return chosen


def dbt_target(value: str | None = None) -> str:
    """The profiles.yml output dbt builds with for the engine."""
    return "spark" if engine(value) == "spark" else "default"
