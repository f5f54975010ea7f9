"""The dbt project as Dagster assets: every model downstream of the loader assets whose keys
equal its sources' keys; dbt data tests show as asset checks."""

import json
import os
import threading
from functools import cached_property
from graphlib import TopologicalSorter
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.dbt_project import using_dagster_dev

from orchestration.constants import FULL_PASS_TAG
from orchestration.resources import RunLockResource, WarehouseResource
from tallyhouse import build_state, db, micro_run, pseudonym
from tallyhouse.config import project_root
from tallyhouse.dbt import (
    dbt_executable,
    ensure_manifest,
    keep_partial_parse,
    prune_invocation_dirs,
)

dbt_project = DbtProject(project_dir=project_root(), profiles_dir=project_root())
# Under `dagster dev` the project is parsed when the definitions load. Not by dagster-dbt's
# own preparer (`dbt_project.prepare_if_dev()`): it looks `dbt` up on PATH, which lacks it
# when the venv is not activated (`make dev`). tallyhouse's parse runs the venv's dbt by
# absolute path, one parse at a time, only when the project files changed. Everywhere else
# the manifest is prepared before the definitions load, never on import.
if using_dagster_dev():
    ensure_manifest()


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return fqn[1] if len(fqn) > 2 else "marts"


def manifest_with_check_targets(path: Path) -> dict:
    """The dbt manifest, with each singular test that reads several relations attached to
    the first model it reads (unless its config says `meta: {dagster: {ref: …}}`): an asset
    check of that model, rather than an observation dagster-dbt warns about on every run."""
    manifest = json.loads(Path(path).read_text())
    for node in manifest.get("nodes", {}).values():
        deps = node.get("depends_on", {}).get("nodes", [])
        models = [d for d in deps if d.startswith("model.")]
        if node.get("resource_type") != "test" or node.get("attached_node") or len(deps) < 2 \
                or not models:
            continue
        dagster_meta = node.setdefault("config", {}).setdefault("meta", {}).setdefault(
            "dagster", {})
        dagster_meta.setdefault("ref", {"name": manifest["nodes"][models[0]]["name"]})
    return manifest


@dbt_assets(
    manifest=manifest_with_check_targets(dbt_project.manifest_path),
    project=dbt_project,
    dagster_dbt_translator=Translator(
        # dbt's tests on sources (record hashes unique in raw) are checks of the loader
        # assets; without this dagster-dbt logs each as an observation with a warning
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True,
                                              enable_source_tests_as_checks=True)),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
               warehouse: WarehouseResource, run_lock: RunLockResource):
    # profiles.yml reads the connection from the environment of the dbt process.
    os.environ.update(db.connection_parts(warehouse.url()).as_env())
    # the pseudonym key's pads as session settings of dbt's connections (never in SQL text)
    os.environ.update(pseudonym.session_env())
    # dbt's lines go through Dagster's log: no terminal colour codes in them.
    os.environ.setdefault("DBT_USE_COLORS", "false")
    url = warehouse.url()
    on_spark = _engine() == "spark"
    rewritten = False
    if on_spark:
        # the marts are built on Spark: what was landed since the last copy goes there first,
        # and dbt talks to Spark's Thrift server (started here when it is the local one)
        from tallyhouse.dbt import engine_env
        from tallyhouse.spark import landing, server

        where = server.endpoint(progress=context.log.info)
        copied = landing.sync(url, where, progress=context.log.info)
        context.log.info(f"Landing copied to {where.describe()}: "
                         f"{sum(copied.values())} rows in {len(copied)} tables.")
        # Spark's raw rows were replaced (another database's copy, a table changed under
        # the last copy, another landing location): nothing built from them may be
        # extended or carried over. The copy marked the build state before it replaced
        # anything, so a run stopped before its build completes (or a copy stopped
        # half-way) leaves the next one a whole build to do.
        rewritten = copied.rewritten
        os.environ.update(engine_env())
    else:
        # PostgreSQL's target, whatever an earlier run on Spark in this process left set
        from tallyhouse.dbt import engine_env

        os.environ.update(engine_env())
    # an erasure killed after its commit left files to put in place and tables to vacuum
    from tallyhouse import forget

    if forget.finish_pending(url, say=context.log.info):
        context.log.info("Finished the file work of an interrupted erasure.")
    state = build_state.current(url)
    full_pass = context.run.tags.get(FULL_PASS_TAG) == "true"
    ready = build_state.readiness(url, state, dbt_project.manifest_path)
    if not full_pass and ready.fresh:
        # Nothing loaded since the last build and the project is the same: the marts are
        # already what a build would make. Report them unchanged (same data version) so the
        # checks and the report still run, and change no row.
        context.log.info("Nothing new since the last build (no new file, same dbt project): "
                         "dbt not run, the marts are unchanged.")
        version = dg.DataVersion(f"{state[0]}-{state[1][:12]}")
        for key in _in_order(context, set(context.selected_asset_keys)):
            yield dg.MaterializeResult(asset_key=key, data_version=version,
                                       metadata={"rebuilt": False})
        # The dbt tests ran on exactly these tables at the last build: their results are
        # reported again, marked as carried over, rather than silently missing.
        yield from _carried_checks(context, url, ran=set(), results=[])
        return
    results = []
    command = ["build"]
    if full_pass:
        context.log.info("Full pass: every model is rebuilt from raw (--full-refresh) and every "
                         "test runs over whole tables.")
        command.append("--full-refresh")
    elif rewritten:
        context.log.info("Spark's copy of the landing was rewritten (another database's, or "
                         "rows changed under it): every model is rebuilt from raw "
                         "(--full-refresh).")
        command.append("--full-refresh")
    elif ready.needs_full_refresh:
        # a no-op run may not trust a build that never completed, raw rows changed under it
        # or relations that are gone: repair by rebuilding everything
        context.log.warning(f"{ready.reason().capitalize()}: every model is rebuilt from raw "
                            "(--full-refresh) before anything is reported.")
        command.append("--full-refresh")
    elif build_state.project_changed(url, state):
        context.log.info("The dbt project (or the pseudonym key, or the engine) changed since "
                         "the last build: every model is rebuilt from raw (--full-refresh).")
        command.append("--full-refresh")
    # a run of some of the models (the UI's "materialize selected", a re-execution from a
    # failed step) is not a build of the project: it leaves the build state as it was
    whole = set(context.selected_asset_keys) == set(context.assets_def.keys)
    selection = None
    if "--full-refresh" not in command and whole:
        feeds = micro_run.feeds_since_last_build(url)
        if feeds is not None:
            # the graph of the project as it is now (parsed again if its files changed)
            selection = micro_run.select(ensure_manifest(), feeds)
            context.log.info(f"Micro-run: {selection.describe()}; the rest is unchanged.")
            # a run for a few webhooks is what "fresh within a minute" waits on: dbt does
            # not write the project's manifest and run results into the run's folder
            # (0.5 s of the ~7 s a one-webhook build takes at a million transactions); its
            # dbt.log there keeps every node's timing and SQL
            command.append("--no-write-json")
            if selection.skip_names:
                command += ["--exclude", " ".join(selection.skip_names),
                            "--indirect-selection", micro_run.INDIRECT_SELECTION]
    if on_spark and "--full-refresh" not in command:
        # Parquet has no DELETE: on Spark the staging models keyed on raw's records append
        # the records loaded since, the models keyed on transactions and customers
        # overwrite the buckets of the keys they recompute, the rest is rebuilt from raw
        # (macros should_full_refresh and key_buckets.sql; DECISIONS.md)
        context.log.info("Spark: the staging models add the records loaded since their last "
                         "build; the transactions and customers overwrite the buckets of "
                         "what they recompute; every other model built now is rebuilt "
                         "from raw.")
    if on_spark or selection is not None:
        # dbt's unit tests check the models' code on fixed inputs, not the data: they run on
        # PostgreSQL (never on Spark), on the first build, every build from raw (a changed
        # project, a repair, the weekly full pass) and in the test suite, not on each run
        # that follows a complete build of the same project
        command += ["--exclude-resource-type", "unit_test"]
    # in progress until it completes: a build killed in the middle is never taken as done
    before = build_state.begin(url)
    built: set[dg.AssetKey] = set()
    if selection is not None and not selection.everything:
        # what the micro-run leaves alone is what the last build made: reported unchanged
        # first (what is skipped is upstream-closed: nothing it holds is downstream of what
        # dbt builds now, and Dagster wants a multi-asset's outputs in dependency order)
        for key in _in_order(context, _keys_of(context, selection.skip)):
            built.add(key)
            yield dg.MaterializeResult(asset_key=key, metadata={"rebuilt": False})
    # the checks' library is imported while dbt builds (a new process per run: ~4 s)
    warming = threading.Thread(target=_warm_checks, name="import-great-expectations",
                               daemon=True)
    warming.start()
    # the scoped tests' floor, stated once (dbt by hand asks the database, test by test)
    stated = os.environ.pop(build_state.CHECKED_THROUGH_ENV, None)
    try:
        if not on_spark and "--full-refresh" not in command:
            os.environ[build_state.CHECKED_THROUGH_ENV] = str(
                build_state.checked_through(before))
        invocation = dbt.cli(command, context=context)
    finally:
        # dbt's process has its environment: this one's is left as it was
        os.environ.pop(build_state.CHECKED_THROUGH_ENV, None)
        if stated is not None:
            os.environ[build_state.CHECKED_THROUGH_ENV] = stated
    for event in invocation.stream():
        if isinstance(event, dg.AssetCheckResult):
            results.append({"asset_key": list(event.asset_key.path),
                            "check_name": event.check_name, "passed": bool(event.passed),
                            "severity": event.severity.value})
        elif isinstance(event, dg.Output):
            built.add(context.assets_def.keys_by_output_name[event.output_name])
        elif isinstance(event, (dg.MaterializeResult, dg.AssetMaterialization)) and \
                event.asset_key is not None:
            built.add(event.asset_key)
        yield event
    if selection is not None and not selection.everything:
        # what the micro-run left alone is what the last build made: reported unchanged,
        # with the last results of the tests that did not run now, marked carried over
        yield from _unchanged(context, url, built, {(tuple(r["asset_key"]), r["check_name"])
                                                    for r in results}, results)
    if whole:
        build_state.record(url, state, results)
    else:
        build_state.restore(url, before)
    keep_partial_parse(invocation.target_path)
    prune_invocation_dirs()
    warming.join(timeout=60)  # no import left half done when the step ends


def _engine() -> str:
    from tallyhouse.engine import engine

    return engine()


def _warm_checks() -> None:
    try:
        from tallyhouse.reconciliation.runner import _gx

        _gx()
    except Exception:  # noqa: BLE001 - the checks' own step imports it again and says why
        pass


def _keys_of(context: dg.AssetExecutionContext, unique_ids: frozenset[str]) -> set[dg.AssetKey]:
    """The selected asset keys of these dbt nodes."""
    found = set()
    for key in context.selected_asset_keys:
        spec = context.assets_def.get_asset_spec(key)
        if spec.metadata.get("dagster_dbt/unique_id") in unique_ids:
            found.add(key)
    return found


def _in_order(context: dg.AssetExecutionContext, keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
    deps = context.assets_def.asset_deps
    return list(TopologicalSorter({key: [d for d in deps.get(key, ()) if d in keys]
                                   for key in keys}).static_order())


def _unchanged(context: dg.AssetExecutionContext, url: str, built: set[dg.AssetKey],
               ran: set[tuple[tuple[str, ...], str]], results: list[dict]):
    """MaterializeResults for the selected models neither built nor reported yet, and the
    last build's results of the checks that did not run (appended to ``results`` so the next
    run carries them again)."""
    for key in _in_order(context, set(context.selected_asset_keys) - built):
        yield dg.MaterializeResult(asset_key=key, metadata={"rebuilt": False})
    yield from _carried_checks(context, url, ran, results)


def _carried_checks(context: dg.AssetExecutionContext, url: str,
                    ran: set[tuple[tuple[str, ...], str]], results: list[dict]):
    """The last build's results of the selected checks that did not run now, marked carried
    over (appended to ``results`` so the next build stores them again)."""
    built_at, previous = build_state.last_check_results(url)
    for check in previous:
        key = dg.AssetKey(check["asset_key"])
        if (tuple(key.path), check["check_name"]) in ran:
            continue
        if dg.AssetCheckKey(key, check["check_name"]) not in context.selected_asset_check_keys:
            continue
        results.append(check)
        yield dg.AssetCheckResult(
            asset_key=key, check_name=check["check_name"], passed=check["passed"],
            severity=dg.AssetCheckSeverity(check["severity"]),
            metadata={"carried_over_from_build_at": str(built_at)})


class TallyhouseDbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two costs a run pays before dbt starts:
    ``dbt --version`` in a subprocess (the venv's dbt-core is the one installed with this
    package) and a dbt adapter set up in this process (used only to fetch row counts or
    column metadata, which the assets do not ask for) — about 4.7 s of every run."""

    @cached_property
    def _cli_version(self):
        from importlib.metadata import version as installed

        from packaging import version

        return version.parse(installed("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    return TallyhouseDbtCli(project_dir=dbt_project, profiles_dir=str(project_root()),
                          dbt_executable=dbt_executable())
