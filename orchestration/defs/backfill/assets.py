"""The daily trailing re-sync of each platform's sales API: a step of the job that runs
before that platform's loader, so the pages it lands are loaded in the same run.

It asks the API only when the platform's credentials are set (else it says so and lands
nothing), and only in the scheduled daily run or a run tagged ``tallyhouse/api_resync`` =
``true``: the new-files sensor starts a run whenever a webhook file closes, and asking the
APIs for sixty days of sales each time would spend the platforms' rate limits for nothing.
A re-sync that fails (the API down, credentials refused) does not stop the books: the run
goes on with what is landed, and the asset check ``resync_complete`` fails (WARN) with the
reason.
"""

import dagster as dg

from orchestration.defs.backfill.resources import PlatformApisResource
from orchestration.resources import LandingResource
from tallyhouse.backfill import PLATFORMS

API_GROUP = "api"
API_RESYNC_TAG = "tallyhouse/api_resync"


def resync_key(platform: str) -> dg.AssetKey:
    return dg.AssetKey(["api_resync", platform])


def should_resync(tags: dict[str, str]) -> bool:
    return tags.get("trigger") == "schedule" or tags.get(API_RESYNC_TAG) == "true"


def build_resync(platform: str) -> dg.AssetsDefinition:
    key = resync_key(platform)

    @dg.asset(
        key=key,
        group_name=API_GROUP,
        kinds={"python"},
        description=f"Daily trailing re-sync of the {platform} sales API into "
                    f"landing/{platform}/ (tallyhouse.backfill.trailing_resync), before the "
                    f"{platform} loader; only when its credentials are set and the run is the "
                    "scheduled one (or tagged tallyhouse/api_resync=true).",
        check_specs=[dg.AssetCheckSpec(
            "resync_complete", asset=key,
            description="The re-sync asked every query of its period, or had nothing to do "
                        "(no credentials, not a scheduled run).")],
    )
    def _resync(context: dg.AssetExecutionContext, platform_apis: PlatformApisResource,
                landing: LandingResource):
        from tallyhouse import backfill

        metadata, error = _run(context, platform, platform_apis, landing, backfill)
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(check_name="resync_complete", passed=error is None,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"error": error or ""})

    return _resync


def _run(context, platform: str, apis: PlatformApisResource, landing: LandingResource,
         backfill) -> tuple[dict, str | None]:
    if not backfill.configured(platform):
        context.log.info(f"{platform}: no API credentials set; nothing to re-sync")
        return {"configured": False, "resynced": False}, None
    if not should_resync(context.run.tags):
        context.log.info(f"{platform}: the API re-sync runs in the scheduled daily run only")
        return {"configured": True, "resynced": False}, None
    try:
        result = backfill.trailing_resync(
            platform, landing.folder(), apis.trailing_days, say=context.log.info,
            interactive=False, requests_per_second=apis.requests_per_second)
    except backfill.Busy as exc:
        context.log.warning(f"{platform}: {exc}; the re-sync is left to it")
        return {"configured": True, "resynced": False, "skipped": str(exc)}, None
    except backfill.BackfillError as exc:
        context.log.warning(f"{platform}: the API re-sync stopped: {exc}")
        return {"configured": True, "resynced": False, "error": str(exc)}, str(exc)
    for line in result.lines():
        context.log.info(line)
    return {"configured": True, "resynced": True, "since": str(result.since),
            "until": str(result.until), "queries": result.queries, "requests": result.requests,
            "pages": result.pages, "records": result.records, "files": result.files,
            "retries": sum(result.retries.values()),
            "records_per_second": round(result.records_per_second, 1)}, None


resync_assets = [build_resync(platform) for platform in PLATFORMS]
