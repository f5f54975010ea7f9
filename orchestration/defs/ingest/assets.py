"""One loader asset per landing source; one asset per feed, keyed like the dbt source."""


import dagster as dg

from orchestration.resources import LandingResource, RunLockResource, WarehouseResource
from tallyhouse.ingest import (
    STATUS_CHANGED,
    count_identity_breaks,
    load_source,
)
from tallyhouse.sources import SOURCES, Source

RAW_GROUP = "raw"


def feed_key(source: str, feed: str) -> dg.AssetKey:
    return dg.AssetKey([source, feed])


def build_loader(source: Source) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=feed_key(source.name, feed.name),
            group_name=RAW_GROUP,
            kinds={"postgres"},
            description=f"{feed.description}. Landed from landing/{source.name}/ into "
                        f"{feed.table}, one row per delivered record.",
            metadata={"table": feed.table, "format": feed.fmt},
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
                            "duplicates skipped, counted from the tables."),
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
                        "rows_in_table": _count(conn, f"select count(*) from {feed.table}"),
                    },
                )
                breaks = count_identity_breaks(conn, feed)
                yield dg.AssetCheckResult(
                    asset_key=key, check_name="nothing_lost", passed=not breaks,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"files_with_breaks": len(breaks),
                              "breaks": dg.MetadataValue.json(breaks[:50])},
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
