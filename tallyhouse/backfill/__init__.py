"""The seller's history through the platforms' sales APIs (``tallyhouse backfill``).

A backfill asks a platform's API for every sale of a period — in windows the API accepts,
for every status, every page — and lands each page in ``landing/<source>/`` as a file of an
API feed (``tallyhouse.sources``: ``hotmart_sales_history``, ``hotmart_sales_commissions``,
``hotmart_sales_summary``, ``kiwify_sales``, ``eduzz_sales``, ``eduzz_sales_summary``). From
there the loaders take it like any delivery: manifest, quarantine, data issues and the file
reconciliation hold for API pages as for webhooks.

* :mod:`~tallyhouse.backfill.platforms` — what each API is asked, authentication, paging;
* :mod:`~tallyhouse.backfill.http` — the client: rate, 429 waits, backoff, re-auth on 401;
* :mod:`~tallyhouse.backfill.pages` — records as returned, page files and their names;
* :mod:`~tallyhouse.backfill.checkpoint` — resuming a killed backfill;
* :mod:`~tallyhouse.backfill.secrets` — credentials from the environment, never shown;
* :mod:`~tallyhouse.backfill.runner` — the loop, the summary, the daily trailing re-sync.

Nothing here touches the database: a backfill only writes files.
"""

from tallyhouse.backfill.checkpoint import Busy
from tallyhouse.backfill.http import ApiError, AuthError, BackfillError
from tallyhouse.backfill.platforms import PLATFORMS
from tallyhouse.backfill.runner import (
    DEFAULT_TRAILING_DAYS,
    Options,
    Result,
    run_backfill,
    trailing_resync,
)
from tallyhouse.backfill.secrets import MissingCredentials, configured, credentials_from_env

__all__ = [
    "DEFAULT_TRAILING_DAYS", "PLATFORMS", "ApiError", "AuthError", "BackfillError", "Busy",
    "MissingCredentials", "Options", "Result", "configured", "configured_platforms",
    "credentials_from_env", "run_backfill", "trailing_resync",
]


def configured_platforms(environ: dict[str, str] | None = None) -> list[str]:
    """The platforms whose API credentials are all set."""
    return [name for name in PLATFORMS if configured(name, environ)]
