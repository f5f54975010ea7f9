"""Dagster entry point: ``dagster dev -m orchestration.definitions``."""

import dagster as dg

from orchestration.defs.ingest.assets import loader_assets
from orchestration.defs.reconciliation.assets import reconciliation_checks, reconciliation_report
from orchestration.defs.schedules.triggers import daily_schedule, new_landing_files
from orchestration.defs.transform.assets import dbt_models, dbt_resource
from orchestration.resources import default_resources

tallyhouse_job = dg.define_asset_job(
    "tallyhouse",
    selection=dg.AssetSelection.all(),
    description="Load every landing source, build the marts, check and report.",
)

defs = dg.Definitions(
    assets=[*loader_assets, dbt_models, reconciliation_report],
    asset_checks=[reconciliation_checks],
    jobs=[tallyhouse_job],
    schedules=[daily_schedule],
    sensors=[new_landing_files],
    resources={**default_resources(), "dbt": dbt_resource()},
)
