"""One loader asset per landing source; one asset per feed, keyed like the dbt source."""


import dagster as dg

from orchestration.constants import FULL_PASS_TAG
from orchestration.defs.backfill.assets import resync_key
from orchestration.resources import LandingResource, RunLockResource, WarehouseResource
from tallyhouse.ingest import (
    STATUS_CHANGED,
    count_identity_breaks,
    ensure_raw_schema,
    load_mark,
    load_source,
    rows_changed_since_recount,
)
from tallyhouse.sources import SOURCES, Source

RAW_GROUP = "raw"


def feed_key(source: str, feed: str) -> dg.AssetKey:
    return dg.AssetKey([source, feed])


def build_loader(source: Source) -> dg.AssetsDefinition:
    # a platform with API feeds loads after its daily API re-sync (orchestration/defs/backfill)
    upstream = [resync_key(source.name)] if any(f.origin == "api" for f in source.feeds) else []
    specs = [
        dg.AssetSpec(
            key=feed_key(source.name, feed.name),
            group_name=RAW_GROUP,
            kinds={"postgres"},
            description=f"{feed.description}. Landed from landing/{source.name}/ into "
                        f"{feed.table}, one row per delivered record.",
            metadata={"table": feed.table, "format": feed.fmt},
            deps=upstream,
        )
        for feed in source.feeds
    ]
    check_specs = []
    for feed in source.feeds:
        key = feed_key(source.name, feed.name)
        check_specs += [
            dg.AssetCheckSpec(
                "nothing_lost", asset=key,
                description="Per file: records in file = landed + quarantined + exact "
                            "duplicates skipped, counted from the tables, and every row as "
                            "it was delivered (its hash) — the files a run loads; every file "
                            "after a delete, truncate or update on the raw table, and on "
                            "the weekly full pass."),
            dg.AssetCheckSpec(
                "no_changed_files", asset=key,
                description="No file was redelivered under a loaded name with other content."),
        ]

    @dg.multi_asset(
        name=f"load_{source.name}",
        specs=specs,
        check_specs=check_specs,
        description=f"Load new files of landing/{source.name}/ ({source.description}).",
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              landing: LandingResource, run_lock: RunLockResource):
        conn = warehouse.connect()
        try:
            ensure_raw_schema(conn)
            # Where each feed stood: the run checks the files it loads, and recounts a feed
            # in full only when rows were deleted from it since (or on the full pass).
            full_pass = context.run.tags.get(FULL_PASS_TAG) == "true"
            marks = {feed.name: None if full_pass or rows_changed_since_recount(conn, feed)
                     else load_mark(conn, feed) for feed in source.feeds}
            result = load_source(conn, landing.folder(), source, progress=context.log.info,
                                 rehash=landing.rehash)
            for feed in source.feeds:
                key = feed_key(source.name, feed.name)
                new = result.new_files(feed.name)
                yield dg.MaterializeResult(
                    asset_key=key,
                    metadata={
                        "new_files": len(new),
                        "records_in_files": sum(f.records_in_file for f in new),
                        "records_landed": sum(f.landed for f in new),
                        "records_quarantined": sum(f.quarantined for f in new),
                        "exact_duplicates_skipped": sum(f.duplicates for f in new),
                        # the planner's estimate: an exact count would read every row
                        "rows_in_table_estimate": _count(
                            conn, "select greatest(reltuples, 0)::bigint from pg_class "
                                  "where oid = %s::regclass", (feed.table,)),
                    },
                )
                breaks = count_identity_breaks(conn, feed, since=marks[feed.name])
                yield dg.AssetCheckResult(
                    asset_key=key, check_name="nothing_lost", passed=not breaks,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"files_with_breaks": len(breaks),
                              "breaks": dg.MetadataValue.json(breaks[:50]),
                              "counted": "every file" if marks[feed.name] is None
                              else "the files of this run"},
                )
                changed = _count(
                    conn, "select count(*) from raw._manifest where feed = %s and status = %s",
                    (feed.name, STATUS_CHANGED))
                yield dg.AssetCheckResult(
                    asset_key=key, check_name="no_changed_files", passed=changed == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"changed_files": changed},
                )
        finally:
            conn.close()

    return _load


def _count(conn, sql: str, params: tuple = ()) -> int:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.fetchone()[0])


loader_assets = [build_loader(source) for source in SOURCES]
