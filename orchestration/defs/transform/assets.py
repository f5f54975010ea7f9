"""The dbt project as Dagster assets: every model downstream of the loader assets whose keys
equal its sources' keys; dbt data tests show as asset checks."""

import os

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.resources import WarehouseResource
from tallyhouse import db
from tallyhouse.config import project_root
from tallyhouse.dbt import dbt_executable, ensure_manifest

dbt_project = DbtProject(project_dir=project_root(), profiles_dir=project_root())
ensure_manifest()


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return fqn[1] if len(fqn) > 2 else "marts"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Translator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
               warehouse: WarehouseResource):
    # profiles.yml reads the connection from the environment of the dbt process.
    os.environ.update(db.connection_parts(warehouse.url()).as_env())
    # dbt's lines go through Dagster's log: no terminal colour codes in them.
    os.environ.setdefault("DBT_USE_COLORS", "false")
    yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(project_root()),
                          dbt_executable=dbt_executable())
