"""What a reader types, run on Spark: one query over the marts, checked before it is sent.

Spark's Thrift server has no roles or grants, so the walls PostgreSQL gives a reader (a
read-only role that can select from the marts only, one statement per execution) are built
here, before anything reaches Spark:

* the text is parsed (sqlglot, Spark's dialect) and must be exactly one query — a SELECT,
  a set operation or a WITH over them; a SET, an INSERT, a CREATE, a script, a Hive
  TRANSFORM … USING (which runs a program) are refused;
* every table it reads is a table of ``marts`` (a CTE's name is its own); files read as
  tables (``parquet.`/path```), table functions that read files, and functions that call
  Java (``reflect``, ``java_method``) are refused;
* what is sent is the query as parsed, written back out by the parser — never the typed
  text — in a session of its own where ``${…}`` substitution is off.

What this cannot give is what a role gives: a person on this machine who reaches the Thrift
port directly is not stopped by it. The local server listens on loopback only; on a shared
machine or a cluster, use the cluster's own authentication (docs: "Scale out on Spark").
"""

from __future__ import annotations

from tallyhouse.readers import NotBuilt, RefusedQuery, Rows
from tallyhouse.spark import server

READABLE_SCHEMAS = frozenset({"marts"})
# functions that reach outside the query: Java methods, files
REFUSED_FUNCTIONS = frozenset({
    "reflect", "java_method", "try_reflect", "read_files", "input_file_name",
    "input_file_block_start", "input_file_block_length", "url_decode_java",
})
READER_SETTINGS = {"spark.sql.variable.substitute": "false"}


def checked_query(text: str) -> str:
    """The query to send for ``text``, or RefusedQuery saying why it is not run."""
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    text = (text or "").strip().rstrip(";").strip()
    if not text:
        raise RefusedQuery("nothing to run")
    if "${" in text:
        raise RefusedQuery("${…} substitution is not available to readers")
    try:
        statements = [s for s in sqlglot.parse(text, read="spark") if s is not None]
    except ParseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "syntax"
        raise RefusedQuery(f"cannot read the query: {first}") from error
    if len(statements) != 1:
        raise RefusedQuery("one statement at a time: a reader runs a single query")
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise RefusedQuery(f"only queries (SELECT / WITH) are run for a reader, not "
                           f"{query.key.upper()}")
    for node in query.walk():
        name = type(node).__name__
        if name in ("QueryTransform", "Command", "Insert", "Create", "Drop", "Set",
                    "Merge", "Delete", "Update", "Alter", "Use", "Cache", "Uncache",
                    "LoadData", "Pragma", "Transaction", "Commit", "Rollback"):
            raise RefusedQuery(f"{name} is not run for a reader")
        if isinstance(node, exp.Func):
            fname = (node.sql_name() if not isinstance(node, exp.Anonymous)
                     else str(node.this)).lower()
            if fname in REFUSED_FUNCTIONS:
                raise RefusedQuery(f"the function {fname} is not available to readers")
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise RefusedQuery("a reader reads tables of marts, not files or table functions")
        schema = (table.db or "").lower()
        catalog = (table.catalog or "").lower()
        if not schema and table.name.lower() in ctes:
            continue
        if catalog not in ("", "spark_catalog") or schema not in READABLE_SCHEMAS:
            shown = ".".join(p for p in (table.catalog, table.db, table.name) if p)
            if not schema:
                raise RefusedQuery(f"name the schema of {shown}: readers read marts.<table>")
            raise RefusedQuery(f"{shown} is not a table readers may read (marts.* only)")
    return query.sql(dialect="spark", comments=False)


def run_read_only(text: str, limit: int | None = None,
                  where: server.Endpoint | None = None) -> Rows:
    """Run one reader's query on Spark's marts; its rows."""
    sql = checked_query(text)
    try:
        connection = server.connect(where or server.endpoint(), settings=READER_SETTINGS)
    except server.SparkError:
        raise
    except Exception as error:  # noqa: BLE001 - Thrift/transport errors of every kind
        raise RefusedQuery(f"cannot reach Spark: {_first_line(error)}") from error
    with connection as conn:
        cur = conn.cursor()
        try:
            cur.execute(sql)
        except Exception as error:  # noqa: BLE001 - PyHive's OperationalError and kin
            message = _spark_message(error)
            if "TABLE_OR_VIEW_NOT_FOUND" in message:
                raise NotBuilt(message) from error
            raise RefusedQuery(f"Spark refused the query: {message}") from error
        if cur.description is None:
            return Rows([], [])
        from tallyhouse.spark.checks import typed

        columns = [c[0].split(".", 1)[-1] for c in cur.description]
        rows = cur.fetchmany(limit) if limit else cur.fetchall()
        return Rows(columns, typed(cur.description, rows))


def _spark_message(error: Exception) -> str:
    """Spark's own message, without the Java stack trace PyHive carries."""
    status = getattr(getattr(error, "args", [None])[0], "status", None)
    message = getattr(status, "errorMessage", None) or str(error)
    message = message.replace("Error running query: ", "")
    for marker in ("; line ", "\n"):
        if marker in message:
            message = message.split(marker, 1)[0]
    return message.strip()[:500]


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]
