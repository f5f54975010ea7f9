"""Resources shared by every Dagster definition. Configured from the environment."""


from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg2.extensions

from tallyhouse import db
from tallyhouse.config import default_landing_dir


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse: TALLYHOUSE_DATABASE_URL, else the embedded server."""

    database_url: str | None = None

    def url(self) -> str:
        return self.database_url or db.database_url()

    def connect(self) -> psycopg2.extensions.connection:
        return db.connect(self.url())


class RunLockResource(dg.ConfigurableResource):
    """Holds the warehouse's run lock for the whole run (the job runs in one process, so
    this resource is set up once, before the first step, and released after the last).
    ``wait``: wait for a run in progress, else fail at once saying which run holds it."""

    database_url: str | None = None
    wait: bool = True

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        from tallyhouse.runlock import run_lock

        url = self.database_url or db.database_url()
        log = context.log.info if context.log else (lambda _m: None)
        # joins the lock of the command that started this job in this process, if any
        with run_lock(url, context.run_id or "(no run id)", wait=self.wait, say=log,
                      join=True):
            yield self


class LandingResource(dg.ConfigurableResource):
    """Where delivered extracts are read from (``landing/<source>/``)."""

    path: str | None = None
    # hash every file again, even one whose name, size and modification time are known
    rehash: bool = False

    def folder(self) -> Path:
        return Path(self.path) if self.path else default_landing_dir()


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(database_url=dg.EnvVar("TALLYHOUSE_DATABASE_URL")
                                       if _env_set("TALLYHOUSE_DATABASE_URL") else None),
        "run_lock": RunLockResource(database_url=dg.EnvVar("TALLYHOUSE_DATABASE_URL")
                                    if _env_set("TALLYHOUSE_DATABASE_URL") else None),
        "landing": LandingResource(path=dg.EnvVar("TALLYHOUSE_LANDING")
                                   if _env_set("TALLYHOUSE_LANDING") else None),
    }


def _env_set(name: str) -> bool:
    import os

    return bool(os.environ.get(name))
