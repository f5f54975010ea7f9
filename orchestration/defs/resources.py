"""The resources every definition is given: the warehouse, the run lock, the landing
folder (from the environment) and dbt."""

import dagster as dg

from orchestration.defs.transform.assets import dbt_resource
from orchestration.resources import default_resources


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={**default_resources(), "dbt": dbt_resource()})
