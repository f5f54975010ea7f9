"""The models speak the warehouse's SQL, not PostgreSQL's: every dialect-specific construct
(JSON operators, `::` casts, `filter (where …)`, `distinct on`, intervals, regex operators,
PostgreSQL functions…) lives behind `adapter.dispatch` in a `postgres__` macro, and the
models call the project's macros or dbt's cross-database macros instead. The macros
themselves speak PostgreSQL only in their `postgres__` implementations.

The scan reads the raw `.sql` files of models/ and data-tests/ (no compilation, no
database): comments are left out, and so are SQL string literals (a detail text may say
"approved -> refunded"); the SQL inside a Jinja string (`"body ->> 'id'"` given to a macro)
is scanned like any other SQL, Jinja's own code (`a ~ b`) is not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("models", "data-tests")

# name -> pattern, matched case-insensitively against SQL with comments and literals left out
POSTGRES_ONLY: dict[str, str] = {
    "->> (JSON text)": r"->>",
    "-> (JSON value)": r"->(?!>)",
    ":: (cast)": r"::",
    "jsonb": r"\bjsonb\w*",
    "json_* function": (
        r"\b(?:json_typeof|json_build_\w+|json_agg|json_object_agg|json_array_elements\w*"
        r"|json_each\w*|json_extract_path\w*|json_populate_\w+|json_strip_nulls"
        r"|json_array_length|json_object_keys|to_json|row_to_json)\s*\("
    ),
    "? (JSON key)": r"\w\s+\?\s+''",
    "distinct on": r"\bdistinct\s+on\s*\(",
    "filter (where": r"\bfilter\s*\(\s*where\b",
    "pg_ function": r"\bpg_\w+",
    "interval literal": r"\binterval\s*''",
    "make_interval": r"\bmake_interval\s*\(",
    "at time zone": r"\bat\s+time\s+zone\b",
    "~ (regex)": r"(?:^|[\s)])!?~\*?\s",
    "lateral": r"\blateral\b",
    "with ordinality": r"\bwith\s+ordinality\b",
    "generate_series": r"\bgenerate_series\s*\(",
    "encode / decode": r"\b(?:encode|decode)\s*\(",
    "array_agg": r"\barray_agg\s*\(",
    "array subscript": r"\)\s*\[\s*\d+\s*(?::\s*\d+\s*)?\]",
    "array[...]": r"\barray\s*\[",
    "unnest": r"\bunnest\s*\(",
    "string_agg": r"\bstring_agg\s*\(",
    "format()": r"\bformat\s*\(",
    "quote_literal": r"\bquote_(?:literal|ident|nullable)\s*\(",
    "as materialized": r"\bas\s+(?:not\s+)?materialized\s*\(",
    "select from (no columns)": r"\bselect\s+from\b",
    "timestamptz": r"\btimestamptz\b",
    "bytea": r"\bbytea\b",
    "to_regclass": r"\bto_regclass\b",
    "current_setting": r"\bcurrent_setting\s*\(",
    "date_trunc (use dbt.date_trunc)": r"\bdate_trunc\s*\(",
    "bool_or (use dbt.bool_or)": r"\bbool_or\s*\(",
    "md5 (use dbt.hash)": r"\bmd5\s*\(",
    "ilike": r"\bilike\b",
    "similar to": r"\bsimilar\s+to\b",
}

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_JINJA_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'', re.S)
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)


def _sql_only(sql: str) -> str:
    """SQL without its comments, its string literals emptied ('' stays, so that
    `interval '1 day'` is still seen as a literal after `interval`)."""
    pieces = []
    position = 0
    # a literal may hold `--`, a comment may hold a quote: read them in order
    for match in _LITERAL_OR_COMMENT.finditer(sql):
        pieces.append(sql[position:match.start()])
        pieces.append("''" if match.group().startswith("'") else " ")
        position = match.end()
    pieces.append(sql[position:])
    return "".join(pieces)


def sql_of(text: str) -> list[str]:
    """The SQL a model's file holds, as pieces to scan: the file with every Jinja tag
    replaced by a placeholder, and the SQL inside each string literal of a Jinja tag."""
    text = _JINJA_COMMENT.sub(" ", text)
    pieces = [_sql_only(_JINJA_TAG.sub(" jinja ", text))]
    for tag in _JINJA_TAG.finditer(text):
        for string in _JINJA_STRING.finditer(tag.group()):
            double_quoted, single_quoted = string.groups()
            inside = double_quoted if double_quoted is not None else single_quoted
            # a Jinja string in double quotes may hold SQL literals; in single quotes not
            pieces.append(_sql_only(inside) if double_quoted is not None else inside)
    return pieces


def postgres_constructs(text: str) -> list[tuple[str, str]]:
    """(construct, matched text) for every PostgreSQL-only construct in a model's text."""
    found = []
    for piece in sql_of(text):
        for name, pattern in POSTGRES_ONLY.items():
            for match in re.finditer(pattern, piece, re.I | re.M):
                found.append((name, match.group().strip()))
    return found


def scanned_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.sql"))


def test_models_use_only_portable_sql():
    offenders = {
        str(path.relative_to(ROOT)): sorted({name for name, _ in found})
        for path in scanned_files()
        if (found := postgres_constructs(path.read_text()))
    }
    assert not offenders, (
        "PostgreSQL-only SQL in models (write it through a dispatched macro in macros/ or "
        f"one of dbt's cross-database macros): {offenders}"
    )


_MACRO = re.compile(
    r"\{%-?\s*(?:macro|test)\s+(\w+).*?\{%-?\s*end(?:macro|test)\s*-?%\}", re.S)


# an engine's own implementation (a dispatched `postgres__x` / `spark__x`) or an engine's
# private helper (`_spark_…`) speaks that engine's SQL; everything else speaks none
ENGINE_PREFIXES = ("postgres__", "spark__", "_postgres_", "_spark_")


def macros_outside_postgres(text: str) -> dict[str, str]:
    """name -> definition of each macro of a file but the engines' own implementations."""
    text = _JINJA_COMMENT.sub(" ", text)
    return {match.group(1): match.group() for match in _MACRO.finditer(text)
            if not match.group(1).startswith(ENGINE_PREFIXES)}


def test_every_dispatched_macro_runs_on_every_engine():
    """A macro dispatched to engines has a version for Spark (or a default) as well as for
    PostgreSQL: a model never meets a dispatch error on either engine."""
    defined: set[str] = set()
    dispatched: dict[str, str] = {}
    for path in sorted((ROOT / "macros").glob("*.sql")):
        text = _JINJA_COMMENT.sub(" ", path.read_text())
        defined.update(match.group(1) for match in _MACRO.finditer(text))
        for name in re.findall(r"adapter\.dispatch\(\s*'(\w+)'\s*,\s*'tallyhouse'", text):
            dispatched[name] = path.name
    assert len(dispatched) >= 45
    missing = {f"{file}:{name}": [f"{engine}__{name}" for engine in ("postgres", "spark")
                                  if f"{engine}__{name}" not in defined
                                  and f"default__{name}" not in defined]
               for name, file in dispatched.items()}
    assert not {k: v for k, v in missing.items() if v}, missing


def test_macros_speak_postgresql_only_in_postgres_implementations():
    offenders = {
        f"{path.name}:{name}": sorted({found for found, _ in postgres_constructs(body)})
        for path in sorted((ROOT / "macros").glob("*.sql"))
        for name, body in macros_outside_postgres(path.read_text()).items()
        if postgres_constructs(body)
    }
    assert not offenders, (
        "PostgreSQL-only SQL in a macro that is not a postgres__ implementation (dispatch "
        f"it with adapter.dispatch): {offenders}"
    )


def test_a_postgres_implementation_may_speak_postgresql():
    text = """
        {% macro json_text(json, key) %}{{ return(adapter.dispatch('json_text')(json, key)) }}
        {% endmacro %}
        {% macro postgres__json_text(json, key) %}{{ json }} ->> '{{ key }}'{% endmacro %}
        {% macro money(raw) %}({{ raw }})::numeric(18, 2){% endmacro %}
    """
    assert sorted(macros_outside_postgres(text)) == ["json_text", "money"]
    assert postgres_constructs(macros_outside_postgres(text)["money"])
    assert not postgres_constructs(macros_outside_postgres(text)["json_text"])


@pytest.mark.parametrize(
    ("sample", "construct"),
    [
        ("select body ->> 'id' as id from source", "->> (JSON text)"),
        ("select body -> 'data' as data from source", "-> (JSON value)"),
        ("select null::text as plan_name", ":: (cast)"),
        ("select '[]'::jsonb as lines", "jsonb"),
        ("select json_typeof(payload) from raw", "json_* function"),
        ("select coalesce(data ? 'subscription', false) from source", "? (JSON key)"),
        ("select distinct on (key) * from events order by key", "distinct on"),
        ("select count(*) filter (where approved) from sales", "filter (where"),
        ("select pg_input_is_valid(x, 'numeric') from t", "pg_ function"),
        ("select approved_at + interval '2 days' from t", "interval literal"),
        ("select a + make_interval(days => 7) from t", "make_interval"),
        ("select a at time zone 'UTC' from t", "at time zone"),
        ("select * from t where code ~ '^\\d+$'", "~ (regex)"),
        ("select * from t cross join lateral (select 1) as x", "lateral"),
        ("select * from jsonb_array_elements(a) with ordinality as e", "with ordinality"),
        ("select generate_series(1, 3) as n", "generate_series"),
        ("select encode(_record_hash, 'hex') as record_hash from raw", "encode / decode"),
        ("select (array_agg(plan order by at))[1] from t", "array subscript"),
        ("select unnest(array['a', 'b']) as field", "unnest"),
        ("select string_agg(v, ', ') from t", "string_agg"),
        ("select format('%s lines', n) from t", "format()"),
        ("source as materialized (select 1)", "as materialized"),
        ("where exists (select from t)", "select from (no columns)"),
        ("select cast(null as timestamptz)", "timestamptz"),
        ("select date_trunc('month', d) from t", "date_trunc (use dbt.date_trunc)"),
        ("select md5(key) from t", "md5 (use dbt.hash)"),
        # inside a Jinja string given to a macro, too
        ("{{ money(\"purchase -> 'price' ->> 'value'\", 'price', issues) }}",
         "->> (JSON text)"),
        ("{{ safe_cast('x', 'timestamptz') }}", "timestamptz"),
        ("{{ raw_payloads(source('a', 'b'), filter=\"payload ->> 'type' = 'x'\") }}",
         "->> (JSON text)"),
    ],
)
def test_each_postgres_construct_is_caught(sample, construct):
    assert construct in {name for name, _ in postgres_constructs(sample)}


@pytest.mark.parametrize(
    "sample",
    [
        # comments, literals and Jinja's own operators are not SQL to scan
        "-- a -> b, x::int, filter (where y)\nselect 1 as one",
        "{# json ->> 'key' #} select 1 as one",
        "select 'approved -> refunded' as detail, 'a::b' as text_value",
        "{{ json_text('body', 'id') ~ \" = 'x'\" }}",
        "{{ format_text(\"'%s -> %s'\", 'a', 'b') }}",
        "select cast(null as {{ type_text() }}) as plan_name",
        "select sum(case when approved then amount end) as approved_amount from t",
        "select {{ json_text('purchase', 'price', 'value') }} as price from source",
    ],
)
def test_portable_sql_passes(sample):
    assert postgres_constructs(sample) == []


def count_by_construct() -> dict[str, int]:
    """How many PostgreSQL-only constructs models/ holds, per construct (for reports)."""
    counts: dict[str, int] = {}
    for path in scanned_files():
        if path.is_relative_to(ROOT / "models"):
            for name, _ in postgres_constructs(path.read_text()):
                counts[name] = counts.get(name, 0) + 1
    return counts
