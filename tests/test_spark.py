"""The warehouse on Apache Spark: the engine setting, the local Spark Thrift server (started
once for the session, real JVM on loopback) and the landing copied to it as Parquet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tallyhouse import ingest
from tallyhouse.engine import EngineError, dbt_target, engine
from tallyhouse.spark import landing, server

from conftest import query

# one JVM and one Derby metastore for the whole session: these tests share one worker
pytestmark = pytest.mark.xdist_group("spark")


@pytest.fixture(scope="session")
def spark_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark")
    saved = os.environ.get(server.SPARK_DIR_ENV)
    os.environ[server.SPARK_DIR_ENV] = str(folder)
    try:
        where = server.start_local()
        yield folder, where
        assert server.stop_local() is True
        assert server.local_status() == "stopped"
    finally:
        if saved is None:
            os.environ.pop(server.SPARK_DIR_ENV, None)
        else:
            os.environ[server.SPARK_DIR_ENV] = saved


@pytest.fixture
def spark(spark_dir, monkeypatch):
    folder, where = spark_dir
    monkeypatch.setenv(server.SPARK_DIR_ENV, str(folder))
    monkeypatch.delenv(server.THRIFT_URL_ENV, raising=False)
    return where


def spark_rows(where, sql: str) -> list[tuple]:
    with server.connect(where) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()


def test_the_engine_setting(monkeypatch):
    monkeypatch.delenv("TALLYHOUSE_ENGINE", raising=False)
    assert engine() == "postgres" and dbt_target() == "default"
    monkeypatch.setenv("TALLYHOUSE_ENGINE", " Spark ")
    assert engine() == "spark" and dbt_target() == "spark"
    assert engine("postgresql") == "postgres"
    monkeypatch.setenv("TALLYHOUSE_ENGINE", "snowflake")
    with pytest.raises(EngineError, match="postgres, spark"):
        engine()


def test_a_cluster_thrift_url():
    found = server.parse_thrift_url("thrift://analytics@spark.internal:10001")
    assert (found.host, found.port, found.user, found.local) == \
        ("spark.internal", 10001, "analytics", False)
    assert server.parse_thrift_url("hive://10.0.0.5").port == 10000
    with pytest.raises(server.SparkError, match="thrift://"):
        server.parse_thrift_url("postgresql://x@y/z")
    with pytest.raises(server.SparkError, match="port"):
        server.parse_thrift_url("thrift://host:tenthousand")


def test_a_cluster_thrift_url_with_its_authentication():
    signed = server.parse_thrift_url("thrift://analyst:s%40cret@spark.internal:10001")
    assert (signed.auth, signed.password) == ("LDAP", "s@cret")  # a password means LDAP
    assert signed.connect_kwargs()["password"] == "s@cret"
    assert signed.as_env()["TALLYHOUSE_SPARK_PASSWORD"] == "s@cret"  # dbt's, in its env
    # nowhere it could be shown
    assert "s@cret" not in repr(signed) and "s@cret" not in signed.describe()
    assert "cret" not in checks_url(signed)
    custom = server.parse_thrift_url("hive://a:pw@h?auth=custom")
    assert custom.auth == "CUSTOM" and custom.connect_kwargs()["password"] == "pw"
    kerberos = server.parse_thrift_url("thrift://etl@h?auth=KERBEROS")
    assert kerberos.connect_kwargs()["kerberos_service_name"] == "hive"
    assert "password" not in kerberos.connect_kwargs()
    assert kerberos.as_env()["TALLYHOUSE_SPARK_KERBEROS_SERVICE"] == "hive"
    plain = server.parse_thrift_url("thrift://h:10000")
    assert plain.auth == "NONE" and "password" not in plain.connect_kwargs()
    assert plain.as_env()["TALLYHOUSE_SPARK_PASSWORD"] == ""  # dbt's profile: none
    for bad, said in (("thrift://h?auth=LDAP", "needs a password"),
                      ("thrift://a:pw@h?auth=NONE", "only sent with"),
                      ("thrift://h?auth=basic", "not one of"),
                      ("thrift://h?kerberos_service_name=hive", "goes with auth=KERBEROS"),
                      ("thrift://h?ssl=true", "options tallyhouse does not know"),
                      ("thrift://a:pw/x@h:1", "percent-encoded")):
        with pytest.raises(server.SparkError, match=said) as raised:
            server.parse_thrift_url(bad)
        assert "pw" not in str(raised.value) and raised.value.__cause__ is None


def test_a_tables_place_as_spark_shows_it_is_the_place_it_was_given():
    """Spark shows a location as a URI (escaped, resolved): read back as the same place, or
    every copy would re-point the tables and every run rebuild everything."""
    same = landing._same_place
    assert same("file:/home/ana/My%20Books/landing/raw/t", "/home/ana/My Books/landing/raw/t")
    assert same("file:/srv/landing/raw/t", "file:///srv//landing/./raw/t/")
    assert same("s3a://lake/th/raw/t", "s3a://lake/th/raw/t/")
    assert not same("s3a://lake/th/raw/t", "s3a://other/th/raw/t")
    assert not same("file:/srv/landing/raw/t", "file:/srv/landing/raw/u")


def checks_url(where) -> str:
    from tallyhouse.spark.checks import engine_kwargs, sqlalchemy_url

    kwargs = engine_kwargs(where)["connect_args"]
    assert kwargs.get("password") == where.password
    return sqlalchemy_url(where)


def test_where_a_clusters_landing_is_written():
    from pyarrow import fs

    s3 = landing.parse_landing_uri(
        "s3a://AKIAEXAMPLE:hunter2@lake/tallyhouse/landing?region=sa-east-1")
    assert isinstance(s3.fs, fs.S3FileSystem) and s3.root == "lake/tallyhouse/landing"
    # Spark's name for the place, with nothing that could carry a secret
    assert s3.location == "s3a://lake/tallyhouse/landing"
    assert s3.spark_location("raw", "hotmart_webhooks") == \
        "s3a://lake/tallyhouse/landing/raw/hotmart_webhooks"
    assert not s3.renames  # an object is seen whole once uploaded: written in place
    azure = landing.parse_landing_uri("abfss://books@acme.dfs.core.windows.net/tallyhouse")
    assert isinstance(azure.fs, fs.AzureFileSystem)
    assert azure.location == "abfss://books@acme.dfs.core.windows.net/tallyhouse"
    assert azure.renames  # Azure shows a blob as soon as its write opens: renamed into place
    keyed = landing.parse_landing_uri("abfss://books:hunter2@acme.dfs.core.windows.net/th")
    assert keyed.location == "abfss://books@acme.dfs.core.windows.net/th"
    gcs = landing.parse_landing_uri("gs://lake/tallyhouse")
    assert isinstance(gcs.fs, fs.GcsFileSystem) and gcs.location == "gs://lake/tallyhouse"
    for bad, said in (("https://lake/x", "scheme 'https'"), ("relative/folder", "absolute"),
                      ("s3a://key:hunter2@lake", "needs a folder"),
                      ("file://data/landing", "not of 'data'")):
        with pytest.raises(server.SparkError, match=said) as raised:
            landing.parse_landing_uri(bad)
        assert "hunter2" not in str(raised.value)


def test_local_spark_runs_once_on_loopback(spark):
    assert spark.local and spark.host == "127.0.0.1"
    # asked again: the running server, not a second JVM
    again = server.start_local()
    assert again.port == spark.port
    assert server.endpoint(start=False).port == spark.port
    assert server.local_status().startswith(f"running on 127.0.0.1:{spark.port}")
    # the session settings the marts rely on reach every connection
    assert spark_rows(spark, "set spark.sql.session.timeZone") == \
        [("spark.sql.session.timeZone", "UTC")]
    assert spark_rows(spark, "select variant_get(parse_json('{\"a\": 1, \"a\": 2}'), "
                             "'$.a', 'int')") == [(2,)]
    out = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "spark", "status"],
                         capture_output=True, text=True, check=True)
    assert f"running on 127.0.0.1:{spark.port}" in out.stdout


def test_hives_function_registry_loads_on_the_local_spark(spark):
    """Closing a Thrift session can make Hive load its function registry; the pyspark wheel
    lacks an interface one of its functions implements, so without the class folder the
    server adds to its class path the registry fails to load and the close fails (a dbt
    invocation that did its work exits in error, now and then)."""
    registry = "org.apache.hadoop.hive.ql.exec.FunctionRegistry"
    assert spark_rows(spark, f"select java_method('java.lang.Class', 'forName', "
                             f"'{registry}')") == [(f"class {registry}",)]


def _content(url: str, table: str) -> str:
    """What identifies a record's content: its payload, or (tabular feeds) its hash."""
    columns = {c for (c,) in query(url, "select column_name from information_schema.columns "
                                        "where table_schema = 'raw' and table_name = %s",
                                   (table,))}
    return "payload" if "payload" in columns else "_record_hash"


def _pg_feed_digest(url: str, table: str) -> tuple[int, str | None]:
    value = "payload::text" if _content(url, table) == "payload" \
        else "encode(_record_hash, 'hex')"
    count, digest = query(url, f"select count(*), md5(string_agg(md5({value}), ',' "
                               f"order by md5({value}))) from raw.{table}")[0]
    return count, digest


def _spark_feed_digest(where, table: str, url: str) -> tuple[int, str | None]:
    value = "payload" if _content(url, table) == "payload" else "lower(hex(_record_hash))"
    count, digest = spark_rows(where, f"select count(*), md5(array_join(array_sort("
                                      f"collect_list(md5({value}))), ',')) from raw.{table}")[0]
    return count, (digest if count else None)


def test_the_landing_is_copied_to_spark_once_and_follows_changes(spark, database_url,
                                                                  small_landing):
    with psycopg2.connect(database_url) as conn:
        ingest.load_all(conn, small_landing)
    first = landing.sync(database_url, spark)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        feeds = landing.feed_tables(cur)
    assert "hotmart_webhooks" in feeds and "payout_lines" in feeds
    for table in feeds:
        # every landed record, byte for byte (the payload's own text)
        assert _spark_feed_digest(spark, table, database_url) == \
            _pg_feed_digest(database_url, table), table
        assert first[f"raw.{table}"] == _pg_feed_digest(database_url, table)[0]
    assert spark_rows(spark, "select count(*) from raw._manifest")[0][0] == \
        query(database_url, "select count(*) from raw._manifest")[0][0]

    # nothing landed since: nothing copied
    again = landing.sync(database_url, spark)
    assert all(again[f"raw.{t}"] == 0 for t in feeds)
    # a first copy of this database replaced what Spark had; a copy of what is new did not
    assert first.rewritten and not again.rewritten
    assert _spark_feed_digest(spark, "hotmart_webhooks", database_url) == \
        _pg_feed_digest(database_url, "hotmart_webhooks")

    # a copy stopped before it was recorded left a file behind: it is not read twice
    folder = Path(landing.landing_for(spark).path("raw", "hotmart_webhooks"))
    last = max(folder.glob("seq-*.parquet"))
    shutil.copyfile(last, folder / "seq-999999999999-crashed-00000.parquet")
    landing.sync(database_url, spark)
    assert _spark_feed_digest(spark, "hotmart_webhooks", database_url) == \
        _pg_feed_digest(database_url, "hotmart_webhooks")

    # a row rewritten in PostgreSQL (an erasure): the table is copied again whole
    query(database_url, "update raw.kiwify_webhooks set payload = '{\"erased\": true}', "
                        "_rewritten_hash = _record_hash where _line_no = 1 "
                        "and _load_seq = (select min(_load_seq) from raw.kiwify_webhooks)")
    copied = landing.sync(database_url, spark)
    assert copied.rewritten  # what was built from the old row must be rebuilt
    assert copied["raw.kiwify_webhooks"] == _pg_feed_digest(database_url, "kiwify_webhooks")[0]
    assert _spark_feed_digest(spark, "kiwify_webhooks", database_url) == \
        _pg_feed_digest(database_url, "kiwify_webhooks")
    assert spark_rows(spark, "select count(*) from raw.kiwify_webhooks "
                             "where payload = '{\"erased\": true}'") == [(1,)]


def test_another_database_is_copied_whole_not_merged(spark, pg_server, small_landing,
                                                     database_url, tmp_path):
    from conftest import _scratch_database

    with psycopg2.connect(database_url) as conn:
        ingest.load_all(conn, small_landing)
    landing.sync(database_url, spark)
    # another warehouse that received only Hotmart's files
    partial = tmp_path / "landing-hotmart"
    shutil.copytree(small_landing / "hotmart", partial / "hotmart")
    with _scratch_database(pg_server, "other") as other:
        with psycopg2.connect(other) as conn:
            ingest.load_all(conn, partial)
        assert landing.sync(other, spark).rewritten
        assert _spark_feed_digest(spark, "hotmart_webhooks", other) == \
            _pg_feed_digest(other, "hotmart_webhooks")
        assert spark_rows(spark, "select count(*) from raw._manifest")[0][0] == \
            query(other, "select count(*) from raw._manifest")[0][0]
        # the first warehouse's Kiwify rows are not left behind in the copy
        with psycopg2.connect(other) as conn, conn.cursor() as cur:
            other_feeds = set(landing.feed_tables(cur))
        if "kiwify_webhooks" in other_feeds:
            assert _spark_feed_digest(spark, "kiwify_webhooks", other) == \
                _pg_feed_digest(other, "kiwify_webhooks")
        else:
            assert spark_rows(spark, "select count(*) from raw.kiwify_webhooks") == [(0,)]


def _landing_files(root: Path) -> dict[str, float]:
    return {str(path.relative_to(root)): path.stat().st_mtime
            for path in root.rglob("*") if path.is_file()}


def test_a_clusters_spark_reads_the_landing_from_its_own_storage(spark, database_url,
                                                                 small_landing, tmp_path,
                                                                 monkeypatch):
    """The local Spark reached as a cluster's is (by its Thrift URL, signed in with a
    password): the landing goes to the storage TALLYHOUSE_SPARK_LANDING_URI names, and
    Spark's raw tables read it there."""
    with psycopg2.connect(database_url) as conn:
        ingest.load_all(conn, small_landing)
    landing.sync(database_url, spark)  # this machine's copy, as a local run leaves it
    local_root = Path(landing.landing_for(spark).root)
    local_before = _landing_files(local_root)
    monkeypatch.setenv(server.THRIFT_URL_ENV,
                       f"thrift://analyst:not-checked-here@127.0.0.1:{spark.port}")
    cluster = server.endpoint()
    assert not cluster.local and cluster.auth == "LDAP"
    monkeypatch.delenv(landing.LANDING_URI_ENV, raising=False)
    with pytest.raises(server.SparkError, match=landing.LANDING_URI_ENV):
        landing.sync(database_url, cluster)  # nowhere the cluster would read: said, not guessed

    shared = tmp_path / "lake" / "tallyhouse"
    monkeypatch.setenv(landing.LANDING_URI_ENV, f"file://{shared}")
    query(database_url, "update raw._build_state set in_progress = false")
    copied = landing.sync(database_url, cluster)
    assert copied.rewritten  # Spark's raw tables read another landing until now
    # marked by the copy itself, before it re-pointed anything: a copy stopped half-way
    # leaves the next run a whole build as well
    assert query(database_url, "select in_progress from raw._build_state") == [(True,)]
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        feeds = landing.feed_tables(cur)
    with server.connect(cluster) as conn:
        placed = landing._locations(conn.cursor(), "raw")
    for table in feeds:
        assert placed[table] == f"file:{shared}/raw/{table}", table
        assert _spark_feed_digest(cluster, table, database_url) == \
            _pg_feed_digest(database_url, table), table
    assert placed["_manifest"].startswith(f"file:{shared}/raw/_manifest/v-")
    assert spark_rows(cluster, "select count(*) from raw._manifest")[0][0] == \
        query(database_url, "select count(*) from raw._manifest")[0][0]
    assert json.loads((shared / "copied.json").read_text())["hotmart_webhooks"]["rows"] == \
        _pg_feed_digest(database_url, "hotmart_webhooks")[0]
    assert _landing_files(local_root) == local_before  # this machine's copy untouched

    # again: nothing new, nothing copied; each control table keeps one copy only
    again = landing.sync(database_url, cluster)
    assert not again.rewritten and all(again[f"raw.{t}"] == 0 for t in feeds)
    with server.connect(cluster) as conn:
        manifest = landing._locations(conn.cursor(), "raw")["_manifest"]
    assert manifest != placed["_manifest"]
    assert [p.name for p in (shared / "raw" / "_manifest").iterdir()] == [Path(manifest).name]

    # back to this machine's Spark folder: the tables read it again, and what Spark built
    # from the cluster's landing is not extended
    monkeypatch.delenv(server.THRIFT_URL_ENV)
    monkeypatch.delenv(landing.LANDING_URI_ENV)
    back = landing.sync(database_url, spark)
    assert back.rewritten and all(back[f"raw.{t}"] == 0 for t in feeds)
    for table in feeds:
        assert _spark_feed_digest(spark, table, database_url) == \
            _pg_feed_digest(database_url, table), table


def test_a_run_against_a_cluster_says_where_the_landing_must_go(spark, database_url,
                                                                tmp_path):
    """Against a cluster's Spark with no landing location: the run stops before loading,
    saying what to set (not a failed build with the reason in the log)."""
    from tallyhouse.config import DATABASE_URL_ENV

    env = {**os.environ, DATABASE_URL_ENV: database_url, "TALLYHOUSE_ENGINE": "spark",
           server.THRIFT_URL_ENV: f"thrift://etl:pw-x9@127.0.0.1:{spark.port}"}
    env.pop(landing.LANDING_URI_ENV, None)
    (tmp_path / "extracts").mkdir()
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "run", "--landing",
                           str(tmp_path / "extracts")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert landing.LANDING_URI_ENV in done.stdout and "s3a://" in done.stdout
    assert "Spark Thrift server at 127.0.0.1" in done.stdout and "load" not in done.stdout
    assert "pw-x9" not in done.stdout + done.stderr


def test_dbt_signs_in_to_the_thrift_server_as_the_url_says(spark, database_url, monkeypatch):
    """A password in TALLYHOUSE_SPARK_THRIFT_URL reaches dbt's connection (the local server
    takes any: what is checked is that dbt's profile sends it and connects), and no output
    of dbt shows it."""
    from tallyhouse.dbt import run_dbt

    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    monkeypatch.setenv(server.THRIFT_URL_ENV,
                       f"thrift://analyst:pa55-w0rd-x@127.0.0.1:{spark.port}?auth=LDAP")
    # the scratch database for dbt's PostgreSQL settings (none of its own started)
    done = run_dbt(["show", "--inline", "select current_user() as signed_in_as"],
                   url=database_url, capture=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "analyst" in done.stdout
    assert "pa55-w0rd-x" not in done.stdout + done.stderr
    with server.connect(server.endpoint()) as conn:  # PyHive's path, the same sign-in
        cur = conn.cursor()
        cur.execute("select current_user()")
        assert cur.fetchall() == [("analyst",)]


REFUSED = [
    "select 1; drop table marts.fct_transactions",
    "drop table marts.fct_transactions",
    "set spark.sql.ansi.enabled=false",
    "insert into marts.fct_transactions select * from marts.fct_transactions",
    "select * from raw.hotmart_webhooks",
    "select * from restricted.customers",
    "select * from marts.x where k in (select k from restricted.customers)",
    "select * from fct_transactions",
    "select reflect('java.lang.Runtime', 'getRuntime')",
    "select java_method('java.lang.System', 'getenv', 'HOME')",
    "select * from parquet.`/etc`",
    "select * from read_files('/etc/passwd')",
    "select transform(a) using 'sh -c id' as (b) from marts.x",
    "select '${tallyhouse.key_ipad}'",
    "cache table marts.x",
    "with t as (select * from raw.pix_orders) select * from t",
    "",
]


@pytest.mark.parametrize("text", REFUSED)
def test_a_readers_text_on_spark_is_refused_unless_one_query_of_the_marts(text):
    from tallyhouse.readers import RefusedQuery
    from tallyhouse.spark.readers import checked_query

    with pytest.raises(RefusedQuery):
        checked_query(text)


def test_a_readers_query_on_spark_is_sent_as_parsed():
    from tallyhouse.spark.readers import checked_query

    sent = checked_query("with t as (select * from marts.fct_transactions) -- a note; drop\n"
                         "select count(*) from t /* ; drop table marts.x */;")
    assert sent == "WITH t AS (SELECT * FROM marts.fct_transactions) SELECT COUNT(*) FROM t"


def test_tallyhouse_sql_on_spark(spark, database_url, tmp_path):
    with server.connect(spark) as conn:
        cur = conn.cursor()
        cur.execute("create database if not exists marts")
        cur.execute("drop table if exists marts.reader_probe")
        cur.execute("create table marts.reader_probe (k string, amount decimal(18, 2)) "
                    "using parquet")
        cur.execute("insert into marts.reader_probe values ('a', 10.50), ('b', -0.01)")
    from tallyhouse.config import DATABASE_URL_ENV

    # a scratch database for the control plane (none of its own started and left running)
    env = {**os.environ, "TALLYHOUSE_ENGINE": "spark", DATABASE_URL_ENV: database_url}

    def sql(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tallyhouse_cli", "sql", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    done = sql("select k, amount from marts.reader_probe order by k", "--csv", "-")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["k,amount", "a,10.50", "b,-0.01"]
    done = sql("select count(*) as n from marts.reader_probe")
    assert done.returncode == 0 and done.stdout.split() == ["n", "-", "2"]
    # refused, and nothing ran
    done = sql("drop table marts.reader_probe")
    assert done.returncode == 2 and "only queries" in done.stdout
    assert spark_rows(spark, "select count(*) from marts.reader_probe") == [(2,)]
    done = sql("select * from marts.not_built_yet")
    assert done.returncode == 2 and "tallyhouse run" in done.stdout
    # --engine wins over the environment
    env["TALLYHOUSE_ENGINE"] = "postgres"
    done = sql("--engine", "spark", "select count(*) as n from marts.reader_probe")
    assert done.returncode == 0 and done.stdout.split() == ["n", "-", "2"]


def test_asked_on_postgresql_after_a_build_on_spark_sql_says_where_the_marts_are(
        database_url, monkeypatch):
    from tallyhouse import build_state

    def sql(engine_name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tallyhouse_cli", "sql", "--engine", engine_name,
             "select count(*) from marts.fct_transactions"],
            capture_output=True, text=True, env={**os.environ}, timeout=120)

    done = sql("postgres")
    assert done.returncode == 2 and "--engine spark" not in done.stdout  # no build yet
    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    build_state.record(database_url, build_state.current(database_url))
    monkeypatch.delenv("TALLYHOUSE_ENGINE")
    assert build_state.built_on(database_url) == "spark"
    done = sql("postgres")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the last build was on Spark" in done.stdout and "--engine spark" in done.stdout


def _spark_table(where, name: str, columns: str, rows: list[str]) -> None:
    with server.connect(where) as conn:
        cur = conn.cursor()
        cur.execute("create database if not exists marts")
        cur.execute(f"drop table if exists marts.{name}")
        cur.execute(f"create table marts.{name} ({columns}) using parquet")
        if rows:
            cur.execute(f"insert into marts.{name} values {', '.join(rows)}")


PAYOUT_BREAK_COLUMNS = ("check_name string, platform string, currency_code string, "
                        "payout_id string, platform_transaction_id string, "
                        "expected decimal(38, 2), actual decimal(38, 2), "
                        "difference decimal(38, 2)")
ISSUE_COLUMNS = ("record_left_out boolean, source_file string, source_line bigint, "
                 "source string, raw_value string, field string, reason string, "
                 "entity_id string, feed string")


def test_the_checks_of_the_marts_run_on_spark(spark, database_url, monkeypatch):
    """The same GX validations, over Spark's marts: a break is found with its amount, a
    clean table stays silent, and a check whose SQL needs translating (quote_literal) runs."""
    from tallyhouse.reconciliation.checks import CHECKS
    from tallyhouse.reconciliation.runner import on_spark, run_checks

    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    by_name = {check.name: check for check in CHECKS}
    paid_twice, issues = by_name["paid_out_twice"], by_name["data_issues"]
    assert on_spark(paid_twice) and not on_spark(by_name["quarantined_records"])

    _spark_table(spark, "rpt_payout_breaks", PAYOUT_BREAK_COLUMNS, [
        "('paid_out_twice', 'hotmart', 'BRL', 'P1, P2', 'HP1', 97.00, 194.00, 97.00)",
        "('approved_never_paid', 'hotmart', 'BRL', null, 'HP2', 10.00, 0.00, -10.00)"])
    _spark_table(spark, "rpt_data_issues", ISSUE_COLUMNS, [
        "(false, 'kiwify_sales.jsonl', 7, 'kiwify', 'R$ 1.0,0', 'amount', 'not a number', "
        "'K7', 'kiwify_sales')"])
    found = {o.check.name: o for o in run_checks(database_url, [paid_twice, issues])}
    assert found["paid_out_twice"].error is None and found["paid_out_twice"].break_count == 1
    brk = found["paid_out_twice"].breaks[0]
    assert (brk["entity_id"], brk["currency_code"], str(brk["amount_at_stake"])) == \
        ("HP1", "BRL", "97.00")
    assert "P1, P2" in brk["detail"]
    assert found["data_issues"].error is None and found["data_issues"].break_count == 1
    assert "(value 'R$ 1.0,0')" in found["data_issues"].breaks[0]["detail"]

    _spark_table(spark, "rpt_payout_breaks", PAYOUT_BREAK_COLUMNS, [
        "('approved_never_paid', 'hotmart', 'BRL', null, 'HP2', 10.00, 0.00, -10.00)"])
    _spark_table(spark, "rpt_data_issues", ISSUE_COLUMNS, [])
    clean = run_checks(database_url, [paid_twice, issues])
    assert [(o.passed, o.error) for o in clean] == [(True, None), (True, None)]


def _build_on_spark(url: str, monkeypatch, *extra: str) -> dict[str, int]:
    """What a run on Spark does after loading: copy the landing, seed, build; the copy's
    figures."""
    from tallyhouse.dbt import run_dbt

    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    copied = landing.sync(url, server.endpoint())
    for args in (["seed"], ["run", "--full-refresh", *extra]):
        done = run_dbt(args, url=url, capture=True)
        assert done.returncode == 0, done.stdout[-3000:]
    monkeypatch.delenv("TALLYHOUSE_ENGINE")
    return copied


def _last_days_later(landing_dir, root) -> list:
    """The landing as two deliveries: everything but Hotmart's and PIX orders' last days,
    then those (among the PIX orders, later snapshots of orders the first delivery had)."""
    from test_incremental import _day, _deliveries, _feed

    return _deliveries(landing_dir, root, lambda p: 1 if _feed(p) in (
        "hotmart_webhooks", "pix_orders") and _day(p) >= "2026-05-20" else 0)


@pytest.fixture(scope="session")
def both_engines(spark_dir, pg_server, anomalies_landing, tmp_path_factory):
    """The landing with one break of each kind, built by PostgreSQL in one run over every
    file and by Spark in two runs: the first over everything but Hotmart's and PIX orders'
    last days, the second the whole Dagster job on Spark for those days alone (it copies
    only the new rows and rebuilds only what is downstream of those two feeds). Built once
    per session (xdist runs other modules' tests between these on the same worker: a module
    fixture would be built again); the settings it needs are set only while it builds, never
    left behind."""
    from conftest import _scratch_database, build

    folder, where = spark_dir
    before, later = _last_days_later(anomalies_landing,
                                             tmp_path_factory.mktemp("deliveries"))
    with _scratch_database(pg_server, "parity") as url:
        saved = dict(os.environ)
        try:
            with pytest.MonkeyPatch.context() as mp:
                built = _build_both(url, folder, where, before, later, mp)
        finally:  # the job sets the dbt connection in this process's environment
            os.environ.clear()
            os.environ.update(saved)
        build(url, anomalies_landing)  # PostgreSQL: one build over every file
        yield built


# a staging model keyed on raw's records, a model keyed on transactions, one not rebuilt
WATCHED = ("staging.stg_hotmart__purchase_events", "intermediate.int_transactions",
           "staging.stg_kiwify__sales")


def _parquet_files(folder, table: str) -> set[str]:
    schema, name = table.split(".")
    return {p.name for p in (folder / "warehouse" / f"{schema}.db" / name).rglob("*.parquet")}


def _build_both(url, folder, where, before, later, mp) -> dict:
    from tallyhouse import build_state

    from conftest import execute_job

    mp.setenv(server.SPARK_DIR_ENV, str(folder))
    mp.delenv(server.THRIFT_URL_ENV, raising=False)
    mp.setenv("TALLYHOUSE_DATABASE_URL", url)
    conn = psycopg2.connect(url)
    try:
        ingest.load_all(conn, before)
    finally:
        conn.close()
    first = _build_on_spark(url, mp)
    first_count = spark_rows(where, "select count(*) from marts.fct_transactions")[0][0]
    # what the job records once a build on Spark completed (the next run narrows from it)
    mp.setenv("TALLYHOUSE_ENGINE", "spark")
    build_state.record(url, build_state.current(url))
    files_before = {table: _parquet_files(folder, table) for table in WATCHED}
    result = execute_job(later, url)
    kept = {table: files_before[table] & _parquet_files(folder, table) for table in WATCHED}
    skipped = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
               if getattr(e.materialization.metadata.get("rebuilt"), "value", None) is False}
    rebuilt = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
               } - skipped
    failures = [e.message for e in result.all_events if e.is_failure]
    mp.undo()
    return {"url": url, "where": where, "first": first, "first_count": first_count,
            "success": result.success, "skipped": skipped, "rebuilt": rebuilt,
            "failures": failures, "files_before": files_before, "files_kept": kept}


def test_two_runs_on_spark_give_the_marts_of_one_run_on_postgresql(both_engines):
    """Parity on the landing with one break of each kind: every mart row by row (amounts to
    the cent, times in UTC), the Spark side built in two runs, the second a micro-run of
    the Dagster job that copies only the rows delivered after the first and rebuilds only
    what is downstream of the feed they came in."""
    from tallyhouse.spark import parity

    url, where = both_engines["url"], both_engines["where"]
    assert both_engines["success"], both_engines["failures"]
    tables = parity.mart_tables(url)
    assert {"fct_transactions", "agg_daily_sales", "fct_payouts", "dim_customers",
            "rpt_money_breaks", "fct_points_ledger", "rpt_data_issues"} <= set(tables)
    differences = parity.compare(url, where, tables)
    assert not differences, "\n".join(d.describe() for d in differences)
    total = query(url, "select count(*) from marts.fct_transactions")[0][0]
    assert spark_rows(where, "select count(*) from marts.fct_transactions")[0][0] == total
    assert 0 < both_engines["first_count"] < total > 1000
    # the second copy moved the new rows only: none twice, none lost
    first = both_engines["first"]
    raw_rows = query(url, "select count(*) from raw.hotmart_webhooks")[0][0]
    assert 0 < first["raw.hotmart_webhooks"] < raw_rows
    assert spark_rows(where, "select count(*) from raw.hotmart_webhooks")[0][0] == raw_rows
    # the micro-run: Hotmart's and PIX's models and what reads them rebuilt (the PIX orders
    # by bucket of the orders they touched), the other feeds' left
    assert {"staging/stg_hotmart__purchase_events", "staging/stg_pix__orders",
            "intermediate/int_pix__orders_latest", "marts/fct_transactions"} <= \
        both_engines["rebuilt"]
    assert {"staging/stg_kiwify__sales", "marts/fct_points_ledger"} <= both_engines["skipped"]
    # Hotmart's staging added the new records to the files it had; Kiwify's staging was
    # not touched (the transactions overwrote the buckets of the keys they recomputed:
    # a test below shows one webhook rewriting one bucket)
    before, kept = both_engines["files_before"], both_engines["files_kept"]
    assert all(before.values()), before
    assert kept["staging.stg_hotmart__purchase_events"] == \
        before["staging.stg_hotmart__purchase_events"]
    assert kept["staging.stg_kiwify__sales"] == before["staging.stg_kiwify__sales"]
    # a cent apart on one side: found, named, with the row
    key = query(url, "select min(transaction_key) from marts.fct_transactions "
                     "where customer_paid_amount is not null")[0][0]
    change = ("update marts.fct_transactions set customer_paid_amount = customer_paid_amount "
              "{} 0.01 where transaction_key = %s")
    query(url, change.format("+"), (key,))
    try:
        [cent] = parity.compare(url, where, ["fct_transactions"])
        assert cent.postgres_rows == cent.spark_rows
        assert len(cent.only_postgres) == len(cent.only_spark) == 1
    finally:
        query(url, change.format("-"), (key,))


def test_dbt_by_hand_on_spark_rebuilds_what_it_cannot_extend(both_engines, spark):
    """dbt build without --full-refresh on Spark: a model keyed on transactions (PostgreSQL
    would delete and insert its touched rows) is rebuilt whole, a staging model adds only
    the records loaded since — nothing doubled, nothing lost; their tests look at the rows
    loaded since the last build on Spark, as on PostgreSQL."""
    from tallyhouse.dbt import run_dbt

    where = both_engines["where"]
    counts = ("select (select count(*) from marts.fct_commissions), "
              "(select count(*) from staging.stg_hotmart__purchase_events)")
    before = spark_rows(where, counts)[0]
    # the build state the job's copy mirrored: the first build's, on Spark, complete
    [(engine_name, through, in_progress)] = spark_rows(
        where, "select engine, last_load_seq, in_progress from raw._build_state")
    assert (engine_name, in_progress) == ("spark", False) and through > 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TALLYHOUSE_ENGINE", "spark")
        done = run_dbt(["build", "--select", "fct_commissions", "stg_hotmart__purchase_events",
                        "--exclude-resource-type", "unit_test"],
                       url=both_engines["url"], capture=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert spark_rows(where, counts)[0] == before
    results = json.loads((done.target_path / "run_results.json").read_text())["results"]
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert tests and all(r["status"] == "pass" for r in tests)
    scoped = {r["unique_id"] for r in tests
              if f"_load_seq > {through}" in r["compiled_code"]
              or f"last_load_seq > {through}" in r["compiled_code"]}
    assert any("stg_hotmart__purchase_events" in t for t in scoped), scoped
    assert any("fct_commissions" in t for t in scoped), scoped
    assert before[0] > 0 and before[1] > 0
    assert spark_rows(where, "select count(*) from marts.fct_commissions")[0][0] == \
        query(both_engines["url"], "select count(*) from marts.fct_commissions")[0][0]


def test_a_table_bucketed_otherwise_is_rebuilt_not_extended(both_engines, spark):
    """dbt by hand with another number of key buckets: a recomputed key's row would go to
    a bucket that is never overwritten and its old row stay in its old one (two rows where
    PostgreSQL has one). The table records its bucket count; one made with another count
    is rebuilt whole, and the rows stay the same."""
    from tallyhouse.dbt import run_dbt

    where = both_engines["where"]
    rows = ("select count(*), count(distinct transaction_key), sum(hash(transaction_key)) "
            "from intermediate.int_transactions")
    before = spark_rows(where, rows)[0]
    for buckets in (4, 16):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TALLYHOUSE_ENGINE", "spark")
            done = run_dbt(["run", "--select", "int_transactions",
                            "--vars", f"{{spark_key_buckets: {buckets}}}"],
                           url=both_engines["url"], capture=True)
        assert done.returncode == 0, done.stdout[-3000:]
        [(_, recorded)] = spark_rows(where, "show tblproperties intermediate.int_transactions "
                                            "('tallyhouse.key_buckets')")
        assert recorded == str(buckets)
        assert spark_rows(where, "select max(_key_bucket) from intermediate.int_transactions"
                          )[0][0] < buckets
        assert spark_rows(where, rows)[0] == before


def _bucket_files(folder, table: str) -> dict[str, set[str]]:
    """A table's Parquet files by partition folder (`_key_bucket=N`)."""
    schema, name = table.split(".")
    found: dict[str, set[str]] = {}
    for path in (folder / "warehouse" / f"{schema}.db" / name).rglob("*.parquet"):
        found.setdefault(path.parent.name, set()).add(path.name)
    return found


# models replaced by key: a transaction's, a customer's (analysts' mart and restricted)
BUCKETED = ("intermediate.int_transactions", "intermediate.int_transaction_status_changes",
            "marts.fct_transactions", "marts.dim_customers", "restricted.customers")


def test_a_webhook_on_spark_rewrites_only_the_buckets_of_what_it_touched(both_engines, spark_dir,
                                                                         spark, tmp_path):
    """One Hotmart refund for one sale, run through the Dagster job on Spark: the models
    keyed on transactions and customers overwrite the one bucket of the key it touched and
    keep every other bucket's files; PostgreSQL, built incrementally by delete+insert over
    the same delivery, has the same marts row by row. Both engines get the delivery, so the
    tests after it still find the same marts on both. It runs before the tests that copy
    another database's landing to the same Spark (the copy would then replace Spark's raw
    and the run rebuild everything from raw, as it should)."""
    from tallyhouse.spark import parity

    from conftest import build, execute_job

    url, where = both_engines["url"], both_engines["where"]
    folder = spark_dir[0]
    [(payload, sale)] = query(
        url, "select payload::text, payload #>> '{data,purchase,transaction}' "
             "from raw.hotmart_webhooks as approved "
             "where payload ->> 'event' = 'PURCHASE_APPROVED' and not exists ("
             "  select from raw.hotmart_webhooks as later "
             "  where later.payload #>> '{data,purchase,transaction}' = "
             "        approved.payload #>> '{data,purchase,transaction}' "
             "    and later.payload ->> 'event' <> 'PURCHASE_APPROVED') "
             "and exists (select from marts.fct_transactions as sale "
             "  where sale.platform = 'hotmart' and sale.status = 'approved' "
             "    and sale.customer_key is not null and sale.platform_transaction_id = "
             "        approved.payload #>> '{data,purchase,transaction}') "
             "order by _load_seq limit 1")
    body = json.loads(payload)
    body.update(id=f"spark-bucket-refund-{sale}", event="PURCHASE_REFUNDED",
                creation_date=int(body["creation_date"]) + 60_000)  # the data's "now" stays
    body["data"]["purchase"]["status"] = "REFUNDED"
    delivery = tmp_path / "delivery"
    (delivery / "hotmart").mkdir(parents=True)
    (delivery / "hotmart" / "hotmart_webhooks_2026-06-30.jsonl").write_text(
        json.dumps(body) + "\n")
    files_before = {t: _bucket_files(folder, t) for t in BUCKETED}
    now = "select max(last_event_at) from marts.fct_transactions"
    now_before = spark_rows(where, now)
    saved = dict(os.environ)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TALLYHOUSE_ENGINE", "spark")
            mp.setenv("TALLYHOUSE_DATABASE_URL", url)
            result = execute_job(delivery, url)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    [(key, bucket, status)] = spark_rows(
        where, "select transaction_key, _key_bucket, status "
               f"from marts.fct_transactions where platform_transaction_id = '{sale}' "
               "and platform = 'hotmart'")
    assert status == "refunded"
    # the data's "now" did not move: no transaction's warranty ended in between (that
    # would rightly recompute other transactions, in other buckets)
    assert spark_rows(where, now) == now_before
    for table in BUCKETED:
        before, after = files_before[table], _bucket_files(folder, table)
        assert len(before) > 2, (table, before)
        changed = {b for b in before.keys() | after.keys() if before.get(b) != after.get(b)}
        if table.endswith(("_transactions", "_status_changes")):
            assert changed == {f"_key_bucket={bucket}"}, (table, changed)
        else:  # the customer's bucket
            assert len(changed) == 1, (table, changed)
    for schema in ("intermediate", "marts", "restricted"):
        assert not [r for r in spark_rows(where, f"show tables in {schema}")
                    if r[1].endswith("__recomputed")], schema

    # PostgreSQL, incrementally (delete+insert by key), over the same delivery
    build(url, delivery)
    assert query(url, "select status from marts.fct_transactions "
                      "where transaction_key = %s", (key,)) == [("refunded",)]
    differences = parity.compare(url, where, parity.mart_tables(url))
    assert not differences, "\n".join(d.describe() for d in differences)


def test_person_keys_on_spark_need_the_key_in_the_session(both_engines, spark, monkeypatch):
    """dbt on Spark without tallyhouse's environment has empty pads (the profile's default):
    a person key would then be a plain hash anyone could recompute from an e-mail. The
    statement fails instead, saying why; with the key it gives PostgreSQL's keys."""
    from tallyhouse.config import project_root
    from tallyhouse.dbt import dbt_env, dbt_executable

    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    env = dbt_env(both_engines["url"])

    def show(environment: dict[str, str]) -> subprocess.CompletedProcess:
        # the model's whole query (on an incremental build Spark now reads only the
        # customers touched since its last build: none here, and no key is computed)
        return subprocess.run(
            [dbt_executable(), "show", "--select", "customers", "--limit", "3",
             "--full-refresh",
             "--output", "json", "--target-path", str(project_root() / "target" / "cli-show")],
            cwd=project_root(), env=environment, capture_output=True, text=True, check=False)

    keyed = show(env)
    assert keyed.returncode == 0, keyed.stdout[-3000:]
    for pad in ("", "00" * 63 + "zz"):  # none, malformed
        unkeyed = show({**env, "TALLYHOUSE_KEY_IPAD": pad, "TALLYHOUSE_KEY_OPAD": pad})
        assert unkeyed.returncode != 0
        assert "the pseudonym key is not in this Spark session" in unkeyed.stdout, \
            unkeyed.stdout[-3000:]
    # the key's digits and a newline: the Thrift server opens no session with it
    # (the macro would refuse it too: a regex's $ matches before a final newline, the
    # length check does not)
    unkeyed = show({**env, "TALLYHOUSE_KEY_IPAD": "00" * 64 + "\n"})
    assert unkeyed.returncode != 0 and '"customer_key"' not in unkeyed.stdout
    # the keys shown are among the ones PostgreSQL computed with the same key
    keys = {key for (key,) in query(both_engines["url"],
                                    "select customer_key from restricted.customers")}
    assert any(key in keyed.stdout for key in keys), keyed.stdout[-3000:]


def test_the_same_breaks_are_found_on_both_engines(both_engines, spark, monkeypatch):
    from tallyhouse.reconciliation.runner import run_checks

    url = both_engines["url"]

    def found() -> set[tuple]:
        outcomes = run_checks(url)
        return {(o.check.name, b["entity_id"], str(b["amount_at_stake"]))
                for o in outcomes for b in o.breaks} | \
            {(o.check.name, "error", o.error) for o in outcomes if o.error}

    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", url)
    on_postgres = found()
    monkeypatch.setenv("TALLYHOUSE_ENGINE", "spark")
    on_spark = found()
    assert len(on_postgres) > 10 and not any(k == "error" for _, k, _ in on_postgres)
    assert on_spark == on_postgres


def test_the_dashboards_read_the_marts_on_spark(both_engines, spark, monkeypatch):
    """Every page renders from Spark's marts with the figures PostgreSQL's give; the run
    history comes from the control plane."""
    from datetime import UTC, datetime

    from streamlit.testing.v1 import AppTest

    from dashboards import queries
    from tallyhouse import roles
    from tallyhouse.reconciliation.runner import run_checks, save

    url = both_engines["url"]
    monkeypatch.setenv("TALLYHOUSE_DATABASE_URL", url)
    roles.ensure_roles(url)  # the dashboards read the run history as tallyhouse_dashboard
    save(url, "parity-run", datetime.now(UTC), run_checks(url))
    app = os.path.join(os.path.dirname(__file__), "..", "dashboards", "app.py")

    def shown(engine_name: str) -> dict[str, list]:
        monkeypatch.setenv("TALLYHOUSE_ENGINE", engine_name)
        queries.clear_caches()
        out = {}
        for page in ("sales", "refunds", "payment_methods", "reconciliation",
                     "subscriptions", "loyalty"):
            at = AppTest.from_file(app, default_timeout=180)
            at.run()
            at.switch_page(f"app_pages/{page}.py").run()
            assert not at.exception, (engine_name, page, [e.value for e in at.exception])
            # the anomaly data's structural findings are an error on the reconciliation
            # page on both engines: compared like the figures
            out[page] = [(m.label, m.value) for m in at.metric] + \
                [c.value for c in at.caption] + [e.body for e in at.error] + \
                [len(at.dataframe)]
        return out

    on_postgres = shown("postgres")
    assert sum(len(v) for v in on_postgres.values()) > 20
    assert shown("spark") == on_postgres


def test_metrics_say_the_semantic_layer_needs_postgresql_on_spark():
    done = subprocess.run([sys.executable, "-m", "tallyhouse_cli", "metrics", "query",
                           "--metrics", "gross_sales"], capture_output=True, text=True,
                          env={**os.environ, "TALLYHOUSE_ENGINE": "spark"}, timeout=120)
    assert done.returncode == 2
    assert "PostgreSQL or Databricks" in done.stdout and "tallyhouse sql --engine spark" \
        in done.stdout


def test_two_copies_at_once_copy_each_row_once(spark, database_url, small_landing):
    """A run's copy and one by hand at the same moment: one waits for the other."""
    import threading

    with psycopg2.connect(database_url) as conn:
        ingest.load_all(conn, small_landing)
    errors: list[BaseException] = []

    def copy() -> None:
        try:
            landing.sync(database_url, spark)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=copy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    for table in ("hotmart_webhooks", "payout_lines", "pix_payments"):
        assert _spark_feed_digest(spark, table, database_url) == \
            _pg_feed_digest(database_url, table), table

