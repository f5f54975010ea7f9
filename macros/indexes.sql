{#- Indexes dbt's `indexes` config cannot make. PostgreSQL only: a warehouse without
    indexes (Spark: Parquet files, pruned by partition) makes nothing here. -#}

{#- A partial index on the few rows a rule looks for (created once per table; dbt's
    `indexes` config has no WHERE). -#}
{% macro partial_index(columns, predicate) -%}
    {{ return(adapter.dispatch('partial_index', 'tallyhouse')(columns, predicate)) }}
{%- endmacro %}

{% macro default__partial_index(columns, predicate) -%}
{%- endmacro %}

{% macro postgres__partial_index(columns, predicate) -%}
    {{ tallyhouse._postgres_index_once('(' ~ columns ~ ') where ' ~ predicate,
                                       'WHERE%' ~ predicate.split()[0]) }}
{%- endmacro %}

{#- PostgreSQL: `create index on <this> <definition>` (its columns or expression in
    parentheses, and a WHERE) once per table: when no index of this table has a definition
    like '%<marker>%' (the old table's, renamed aside during a full build, is not taken for
    it). -#}
{% macro _postgres_index_once(definition, marker) -%}
    do $index$ begin
        if not exists (
            select from pg_indexes
            where schemaname = '{{ this.schema }}'
              and tablename = '{{ this.identifier }}'
              and indexdef like '%{{ marker }}%'
        ) then
            create index on {{ this }} {{ definition }};
        end if;
    end $index$
{%- endmacro %}

{#- An index on an expression (dbt's `indexes` config takes columns), created once per
    table: `marker`, a word only this index's definition has, tells whether it exists. -#}
{% macro expression_index(expression, marker) -%}
    {{ return(adapter.dispatch('expression_index', 'tallyhouse')(expression, marker)) }}
{%- endmacro %}

{% macro default__expression_index(expression, marker) -%}
{%- endmacro %}

{% macro postgres__expression_index(expression, marker) -%}
    {{ tallyhouse._postgres_index_once('((' ~ expression ~ '))', marker) }}
{%- endmacro %}

{#- A post-hook on the staging folder: indexes the rows a staging model could not read
    whole, so that the data-issue and superseded-record lists read a few rows by index
    instead of every staging row. -#}
{% macro index_unread_rows() -%}
    {{ return(adapter.dispatch('index_unread_rows', 'tallyhouse')()) }}
{%- endmacro %}

{% macro default__index_unread_rows() -%}
{%- endmacro %}

{% macro postgres__index_unread_rows() -%}
    {%- if execute and config.get('materialized') in ('table', 'incremental') -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name')
            | list -%}
        {%- for column, predicate in [('data_issues', "data_issues <> '[]'::jsonb"),
                                      ('is_superseded', 'is_superseded')]
            if column in columns %}
            {{ partial_index('record_hash', predicate) }};
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
