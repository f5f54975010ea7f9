"""Where tallyhouse keeps things: the project (dbt), local state, landing, reports.

The project folder holds dbt_project.yml (the repository). Local state — the embedded
database, Dagster run history — and the default landing and reports folders live in the
*home*: the project folder, or TALLYHOUSE_HOME when set (tests and second setups use it).
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "TALLYHOUSE_DATABASE_URL"
HOME_ENV = "TALLYHOUSE_HOME"


def project_root() -> Path:
    """The folder holding dbt_project.yml: the repository this package sits in."""
    here = Path(__file__).resolve().parent.parent
    if (here / "dbt_project.yml").exists():
        return here
    return Path.cwd().resolve()


def home() -> Path:
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).resolve()
    return project_root()


def state_dir() -> Path:
    """Local state: embedded database, Dagster run history. Never committed."""
    path = home() / ".tallyhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_landing_dir() -> Path:
    return home() / "landing"


def reports_dir() -> Path:
    """Where the reconciliation reports are written: reports/ in the home, or
    TALLYHOUSE_REPORTS_DIR (a shared folder; the freshness benchmark's own)."""
    if os.environ.get("TALLYHOUSE_REPORTS_DIR"):
        return Path(os.environ["TALLYHOUSE_REPORTS_DIR"]).resolve()
    return home() / "reports"


def business_time_zone() -> str:
    """The zone whose calendar the marts' days follow: dbt var ``business_time_zone``."""
    import yaml

    project = yaml.safe_load((project_root() / "dbt_project.yml").read_text())
    return str((project.get("vars") or {}).get("business_time_zone", "America/Sao_Paulo"))
