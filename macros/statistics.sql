{#- Planner statistics for a table built whole, gathered before anything reads it.

    PostgreSQL has no column statistics for a new table until autovacuum analyzes it, a
    minute or more later in the background; a model built right after it in the same run
    plans blind. At a million transactions the first build of rpt_money_breaks, planned
    before fct_commissions had statistics, ran for over 13 minutes (a query of 15 s once
    statistics existed). A post-hook on every model (dbt_project.yml): a table with no
    column statistics in pg_stats (which its owner may read) — a table model, a new table
    on every build, or an incremental model's first or full build — is analyzed (a sample
    of 30 000 rows: tens of milliseconds to a second); an incremental build keeps the
    statistics the table had and autovacuum follows its changes. A view has none to
    gather. Spark plans from Parquet's own file statistics: nothing here. -#}
{% macro analyze_if_new() -%}
    {{ return(adapter.dispatch('analyze_if_new', 'tallyhouse')()) }}
{%- endmacro %}

{% macro default__analyze_if_new() -%}
{%- endmacro %}

{% macro postgres__analyze_if_new() -%}
    {%- if config.get('materialized') in ('table', 'incremental') %}
    do $analyze$ begin
        if not exists (
            select from pg_catalog.pg_stats
            where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
        ) then
            analyze {{ this }};
        end if;
    end $analyze$
    {%- endif %}
{%- endmacro %}
