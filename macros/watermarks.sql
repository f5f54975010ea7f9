{#
    Where an incremental mart left off, kept beside the data rather than in it: a load
    number in a mart would make a run split in several runs differ from one run.

    watermark(): the highest load number (raw._load_seq) the model had read when it was
    last built; -1 before the first build. record_watermark(relation) (a post-hook) stores
    the highest last_load_seq of the relation the model was built from.

    The watermarks table, its reads and the post-hooks that write it are the warehouse's
    (postgres__ below: to_regclass, insert … on conflict); a Spark version would keep the
    same table as Parquet and overwrite a model's row (insert overwrite, or a merge where
    Delta exists).
#}

{% macro create_watermark_table() %}
    {{- return(adapter.dispatch('create_watermark_table', 'tallyhouse')()) -}}
{% endmacro %}

{% macro postgres__create_watermark_table() %}
    create schema if not exists intermediate;
    create table if not exists intermediate._build_watermarks (
        model text primary key,
        last_load_seq bigint not null
    );
{% endmacro %}

{% macro watermark() -%}
    {{ return(adapter.dispatch('watermark', 'tallyhouse')()) }}
{%- endmacro %}

{% macro postgres__watermark() -%}
    {#- a constant, read when the model runs: the planner then knows how few rows are new -#}
    {%- set found = -1 -%}
    {%- if execute and run_query(
            "select to_regclass('intermediate._build_watermarks') is not null")
            .columns[0].values()[0] -%}
        {%- set found = run_query(
            "select coalesce((select last_load_seq from intermediate._build_watermarks"
            " where model = '" ~ this.identifier ~ "'), -1)").columns[0].values()[0] -%}
    {%- endif -%}
    {{ found }}
{%- endmacro %}

{% macro record_watermark(relation) %}
    {{- return(adapter.dispatch('record_watermark', 'tallyhouse')(relation)) -}}
{% endmacro %}

{% macro postgres__record_watermark(relation) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', coalesce(max(last_load_seq), -1) from {{ relation }}
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{#- The highest load number of raw relations a model has read (a post-hook), for a model
    whose own rows do not tell how far it read. -#}
{% macro record_raw_watermark(relations) %}
    {{- return(adapter.dispatch('record_raw_watermark', 'tallyhouse')(relations)) -}}
{% endmacro %}

{% macro postgres__record_raw_watermark(relations) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', greatest(
        -1
        {%- for relation in relations %},
        (select max(_load_seq) from {{ relation }})
        {%- endfor %}
    )
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{#- The load number the last build read through, for tests scoped to what changed: on an
    incremental build they look at the rows loaded after it; on a full refresh (the weekly
    full pass, a first build, a changed project) at every row (-1). A constant, so that
    the planner reads the new rows by index. -#}
{% macro checked_through() -%}
    {{ return(adapter.dispatch('checked_through', 'tallyhouse')()) }}
{%- endmacro %}

{% macro postgres__checked_through() -%}
    {%- set through = -1 -%}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set built = run_query("select to_regclass('raw._build_state') is not null")
            .columns[0].values()[0] -%}
        {%- if built -%}
            {%- set through = run_query(
                "select coalesce((select (to_jsonb(state) ->> 'last_load_seq')::bigint"
                " from raw._build_state as state), -1)").columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ through }}
{%- endmacro %}
