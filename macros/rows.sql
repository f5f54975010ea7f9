{#- Row sets: the first row per key, rows from a list of values, rows computed per row of
    another table (lateral joins), and a CTE computed once.

    Spark: the first row per key is row_number() over (partition by key order by …) = 1;
    rows per row are `lateral view` generators (stack, inline, posexplode) or LATERAL
    subqueries; a CTE has no materialization hint there. -#}


{#- The first row of each `key` in `order_by` (SQL after the key, without "order by"):
    select `columns` from `relation` (a table, a CTE or joined tables) where `where`
    holds. The tie-break is the caller's: rows equal in key and order_by give any one. -#}
{% macro first_per_key(relation, key, order_by=none, columns='*', where=none) -%}
    {{ return(adapter.dispatch('first_per_key', 'tallyhouse')(
        relation, key, order_by, columns, where)) }}
{%- endmacro %}

{% macro postgres__first_per_key(relation, key, order_by, columns, where) -%}
    select distinct on ({{ key }}) {{ columns }}
    from {{ relation }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    order by {{ key }} {{- ', ' ~ order_by if order_by }}
{%- endmacro %}

{#- Spark: row_number() over the key in order_by, with PostgreSQL's null order made
    explicit; without order_by any row of the key (ordered by the key itself, which
    row_number requires). The rank column is left out of `*`. A relation named by a plain
    identifier keeps its name, so that columns qualified with it still resolve. -#}
{% macro spark__first_per_key(relation, key, order_by, columns, where) -%}
    {%- set name = relation | string -%}
    {%- set alias = name if modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', name)
        else '_first_per_key' -%}
    select {{ '* except (_first_per_key_rank)' if columns | trim == '*' else columns }}
    from (
        select
            *,
            row_number() over (
                partition by {{ key }}
                order by {{ tallyhouse._spark_pg_order(order_by or key) }}
            ) as _first_per_key_rank
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) as {{ alias }}
    where _first_per_key_rank = 1
{%- endmacro %}

{#- A row source (for a FROM clause): one row per value of `values` (literal texts), the
    value under `alias`. -#}
{% macro rows_of_values(values, alias) -%}
    {{ return(adapter.dispatch('rows_of_values', 'tallyhouse')(values, alias)) }}
{%- endmacro %}

{% macro postgres__rows_of_values(values, alias) -%}
    unnest(array['{{ values | join("', '") }}']) as {{ alias }}
{%- endmacro %}

{% macro spark__rows_of_values(values, alias) -%}
    (values ('{{ values | join("'), ('") }}')) as {{ alias }} ({{ alias }})
{%- endmacro %}

{#- A join clause: each row of the tables before it, once per row of `rows` (a list of
    rows, each a list of SQL expressions that may use those tables' columns), the values
    named `columns` under `alias`. -#}
{% macro join_values(alias, columns, rows) -%}
    {{ return(adapter.dispatch('join_values', 'tallyhouse')(alias, columns, rows)) }}
{%- endmacro %}

{% macro postgres__join_values(alias, columns, rows) -%}
    cross join
        lateral (
            values
            {%- for row in rows %}
            ({{ row | join(', ') }}){{ ',' if not loop.last }}
            {%- endfor %}
        ) as {{ alias }} ({{ columns | join(', ') }})
{%- endmacro %}

{#- Spark: an inline table cannot read columns; a generator over structs can (LATERAL
    generator functions in FROM, Spark 3.4+), before or after other joins. The rows' types
    are widened to a common struct type as VALUES does (decimals: to at most 38 digits,
    which can cut the scale of a quotient; the callers' values have 2 decimals). -#}
{% macro spark__join_values(alias, columns, rows) -%}
    cross join
        lateral inline(array(
            {%- for row in rows %}
            named_struct(
                {%- for value in row %}
                '{{ columns[loop.index0] }}', {{ value }}{{ ',' if not loop.last }}
                {%- endfor %}
            ){{ ',' if not loop.last }}
            {%- endfor %}
        )) as {{ alias }} ({{ columns | join(', ') }})
{%- endmacro %}

{#- A join clause, as a call block: each row of the tables before it with the rows of the
    block's query, which may use their columns:
        {% call join_lateral('totals') %} select sum(…) from … {% endcall %} -#}
{% macro join_lateral(alias) -%}
    {{ return(adapter.dispatch('join_lateral', 'tallyhouse')(alias, caller())) }}
{%- endmacro %}

{% macro postgres__join_lateral(alias, query) -%}
    cross join lateral (
        {{ query }}
    ) as {{ alias }}
{%- endmacro %}

{#- Spark 3.4+: LATERAL subqueries. Their correlated columns may not be VARIANT (or
    arrays of it): UNSUPPORTED_CORRELATED_REFERENCE_DATA_TYPE. -#}
{% macro spark__join_lateral(alias, query) -%}
    cross join lateral (
        {{ query }}
    ) as {{ alias }}
{%- endmacro %}

{#- In `name as {{ materialized_hint() }} (…)`: the CTE is computed once, as written,
    rather than folded into the query that reads it (PostgreSQL would otherwise inline a
    CTE read once, and push its conditions down); materialized_hint(false): folded in
    wherever it is read (PostgreSQL would otherwise compute a CTE read twice once, whole,
    in memory and temporary files). Nothing where CTEs have no such hint. -#}
{% macro materialized_hint(materialized=true) -%}
    {{ return(adapter.dispatch('materialized_hint', 'tallyhouse')(materialized)) }}
{%- endmacro %}

{% macro default__materialized_hint(materialized) -%}
{%- endmacro %}

{% macro postgres__materialized_hint(materialized) -%}
    {{ 'materialized' if materialized else 'not materialized' }}
{%- endmacro %}

{#- A row number (a call block around `row_number() over (…)`), as a bigint: what
    PostgreSQL's row_number gives and the contracts state (Spark's is an int). -#}
{% macro row_number_bigint() -%}
    {{ return(adapter.dispatch('row_number_bigint', 'tallyhouse')(caller())) }}
{%- endmacro %}

{% macro postgres__row_number_bigint(window) -%}
    {{ return(window) }}
{%- endmacro %}

{% macro spark__row_number_bigint(window) -%}
    {{ return('cast(' ~ window ~ ' as bigint)') }}
{%- endmacro %}

{#- `expression` is one of the values of `column` in the rows of `relation` (a CTE's name
    or a subquery in parentheses, read as `wanted`) that satisfy `where` (which names its
    columns wanted.<column>: an unqualified name missing from `relation` would silently be
    the outer query's). On PostgreSQL the values are read once into an array (an init
    plan) and the condition is an index condition on the table under a view: a semi-join
    on a CTE is estimated at one row and planned against the whole view (the store's
    payments with their orders, 300 000 rows at a million transactions, read in full twice
    per build). -#}
{% macro in_rows_of(expression, relation, column, where='true') -%}
    {{ return(adapter.dispatch('in_rows_of', 'tallyhouse')(expression, relation, column, where)) }}
{%- endmacro %}

{% macro default__in_rows_of(expression, relation, column, where) -%}
    {{ expression }} in (select wanted.{{ column }} from {{ relation }} as wanted where {{ where }})
{%- endmacro %}

{% macro postgres__in_rows_of(expression, relation, column, where) -%}
    {{ expression }} = any(array(
        select wanted.{{ column }} from {{ relation }} as wanted where {{ where }}
    ))
{%- endmacro %}
