"""Where tallyhouse keeps things: project root, state folder, landing, reports.

Everything is derived from the project root so that every command (CLI, Dagster,
dbt, dashboards, tests) agrees on paths without extra configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "TALLYHOUSE_DATABASE_URL"
HOME_ENV = "TALLYHOUSE_HOME"


def project_root() -> Path:
    """The folder holding dbt_project.yml (the repository), or TALLYHOUSE_HOME."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "dbt_project.yml").exists() or (here / "pyproject.toml").exists():
        return here
    return Path.cwd().resolve()


def state_dir() -> Path:
    """Local state: embedded database, Dagster run history. Never committed."""
    path = project_root() / ".tallyhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_landing_dir() -> Path:
    return project_root() / "landing"


def reports_dir() -> Path:
    return project_root() / "reports"
