"""The platforms' sales APIs as a resource: how far back the daily re-sync reaches and how
fast it may ask. Credentials are not part of it: they are read from the environment by the
step that uses them, so they never enter Dagster's configuration or run records."""

import os

import dagster as dg

from tallyhouse.backfill import DEFAULT_TRAILING_DAYS

RESYNC_DAYS_ENV = "TALLYHOUSE_API_RESYNC_DAYS"


class PlatformApisResource(dg.ConfigurableResource):
    """``trailing_days``: the business days the daily re-sync asks again (today included);
    ``requests_per_second``: a bound for every platform (None: each platform's default)."""

    trailing_days: int = DEFAULT_TRAILING_DAYS
    requests_per_second: float | None = None


@dg.definitions
def backfill_resources() -> dg.Definitions:
    days = (dg.EnvVar.int(RESYNC_DAYS_ENV) if os.environ.get(RESYNC_DAYS_ENV)
            else DEFAULT_TRAILING_DAYS)
    return dg.Definitions(resources={"platform_apis": PlatformApisResource(trailing_days=days)})
