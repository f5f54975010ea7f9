"""``api_backfill``: a backfill started from the Dagster UI, with the same arguments as
``tallyhouse backfill``. It only lands files; the new-files sensor (or the next run) loads
them. Not an asset: it is not part of the daily job."""

from datetime import date

import dagster as dg

from orchestration.resources import LandingResource


class BackfillConfig(dg.Config):
    platform: str  # hotmart, kiwify or eduzz
    since: str | None = None  # YYYY-MM-DD; or trailing_days
    until: str | None = None  # YYYY-MM-DD, default today
    trailing_days: int | None = None
    page_size: int | None = None
    requests_per_second: float | None = None
    restart: bool = False


@dg.op(description="Land a platform's sales history from its API into landing/<platform>/.")
def backfill_platform(context: dg.OpExecutionContext, config: BackfillConfig,
                      landing: LandingResource) -> dg.Output[int]:
    from tallyhouse import backfill

    options = {"page_size": config.page_size, "restart": config.restart,
               "requests_per_second": config.requests_per_second, "say": context.log.info,
               "interactive": False}
    until = date.fromisoformat(config.until) if config.until else None
    if config.trailing_days:
        result = backfill.trailing_resync(config.platform, landing.folder(),
                                          config.trailing_days, until=until, **options)
    elif config.since:
        since = date.fromisoformat(config.since)
        if until is None:
            from tallyhouse.backfill.runner import business_zone, today

            until = today(business_zone(backfill.Options(config.platform, since, since,
                                                         landing.folder())))
        result = backfill.run_backfill(backfill.Options(config.platform, since, until,
                                                        landing.folder(), **options))
    else:
        raise dg.Failure("give since (YYYY-MM-DD) or trailing_days")
    for line in result.lines():
        context.log.info(line)
    return dg.Output(result.records, metadata={"records": result.records,
                                               "pages": result.pages, "files": result.files,
                                               "requests": result.requests})


@dg.job(name="api_backfill",
        description="Backfill a platform's sales from its API into landing/ (then the "
                    "new-files sensor loads them).")
def api_backfill():
    backfill_platform()
