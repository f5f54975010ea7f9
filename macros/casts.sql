{#- Column types and casts.

    A model casts with plain SQL, `cast(x as {{ type_money() }})`, and names the type
    through this family: dbt's type_string / type_int cover text and integers, not an
    amount of money, an instant or JSON, and PostgreSQL's names (timestamptz, jsonb) are
    not the warehouse's. Each warehouse has one table of its types (postgres__column_types;
    Spark's would say string, decimal(18, 2), timestamp, timestamp_ntz; JSON kept as text).

    A safe cast is null where the text does not read as the type, never an error:
    PostgreSQL asks pg_input_is_valid first; Spark (ANSI mode, where a failing cast raises)
    has try_cast. -#}


{#- ------------------------------------------------------------------ types -#}

{#- The warehouse's name for one of the project's column types:
      text, int, bigint, numeric (any precision), money (an amount in currency units,
      2 decimal places), money_total (a sum of amounts, or a reconciliation report's
      expected / actual / difference: 2 decimal places, wide enough for any sum of money
      amounts, DECISIONS.md 2026-12-03), points (whole points and their sums), boolean,
      date, timestamp (an instant, UTC), local_timestamp (a wall-clock time without zone),
      json (a parsed JSON value).
    The marts' contracts name the same types (data_type: numeric(18, 2), numeric(38, 2),
    numeric(38, 0)): never a bare numeric, which Spark reads as decimal(10, 0). -#}
{% macro column_type(name) -%}
    {{ return(adapter.dispatch('column_types', 'tallyhouse')()[name]) }}
{%- endmacro %}

{% macro default__column_types() -%}
    {{ return({
        'text': dbt.type_string(), 'int': dbt.type_int(), 'bigint': dbt.type_bigint(),
        'numeric': api.Column.numeric_type('decimal', 38, 10),
        'money': api.Column.numeric_type('decimal', 18, 2),
        'money_total': api.Column.numeric_type('decimal', 38, 2),
        'points': api.Column.numeric_type('decimal', 38, 0), 'boolean': dbt.type_boolean(),
        'date': 'date', 'timestamp': dbt.type_timestamp(), 'local_timestamp': 'timestamp',
        'json': dbt.type_string(),
    }) }}
{%- endmacro %}

{% macro postgres__column_types() -%}
    {{ return({
        'text': 'text', 'int': 'integer', 'bigint': 'bigint', 'numeric': 'numeric',
        'money': 'numeric(18, 2)', 'money_total': 'numeric(38, 2)',
        'points': 'numeric(38, 0)', 'boolean': 'boolean', 'date': 'date',
        'timestamp': 'timestamptz', 'local_timestamp': 'timestamp', 'json': 'jsonb',
    }) }}
{%- endmacro %}

{#- One macro per type, for call sites: cast(x as {{ type_money() }}). -#}
{% macro type_text() %}{{ return(column_type('text')) }}{% endmacro %}
{% macro type_int() %}{{ return(column_type('int')) }}{% endmacro %}
{% macro type_bigint() %}{{ return(column_type('bigint')) }}{% endmacro %}
{% macro type_numeric() %}{{ return(column_type('numeric')) }}{% endmacro %}
{% macro type_money() %}{{ return(column_type('money')) }}{% endmacro %}
{% macro type_money_total() %}{{ return(column_type('money_total')) }}{% endmacro %}
{% macro type_points() %}{{ return(column_type('points')) }}{% endmacro %}
{% macro type_boolean() %}{{ return(column_type('boolean')) }}{% endmacro %}
{% macro type_date() %}{{ return(column_type('date')) }}{% endmacro %}
{% macro type_timestamp() %}{{ return(column_type('timestamp')) }}{% endmacro %}
{% macro type_local_timestamp() %}{{ return(column_type('local_timestamp')) }}{% endmacro %}
{% macro type_json() %}{{ return(column_type('json')) }}{% endmacro %}


{#- ------------------------------------------------------------- safe casts -#}

{#- `expression` cast to `type` (one of the types above), or null when the text does not
    read as that type. -#}
{% macro safe_cast(expression, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__safe_cast(expression, type) -%}
    (case
        when pg_input_is_valid(({{ expression }})::text, '{{ type }}')
            then ({{ expression }})::{{ type }}
    end)::{{ type }}
{%- endmacro %}

{#- Whether the text reads as `type` (null text counts as readable). -#}
{% macro is_castable(expression, type) -%}
    {{ return(adapter.dispatch('is_castable', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__is_castable(expression, type) -%}
    coalesce(pg_input_is_valid(({{ expression }})::text, '{{ type }}'), true)
{%- endmacro %}
