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

{#- Spark (Parquet: no upsert, no transaction): the table is a log that is only appended
    to, one row per recording; a model's watermark is its latest row (recorded_at, then
    the highest load number). An append commits its one file whole or not at all, so a
    crash leaves either the previous watermark or the new one, never none. Thrift runs one
    statement per call: each runs here, and the hook itself is empty. -#}
{#- Spark: a watermark table per model (intermediate._watermark__<model>), each rewritten
    whole by its own model's post-hook. Parallel models never write into the same table:
    two Spark jobs appending to one Parquet folder at once clash in its _temporary folder.
    A build stopped while a watermark is rewritten leaves it empty: the next build reads
    from the start (-1), never past what it has. -#}
{% macro spark__create_watermark_table() %}
    {%- if execute -%}
        {%- do run_query('create database if not exists intermediate') -%}
    {%- endif -%}
    {{- return('') -}}
{% endmacro %}

{% macro _spark_watermark_table(identifier) -%}
    intermediate._watermark__{{ identifier }}
{%- endmacro %}

{% macro _spark_write_watermark(select_sql) %}
    {%- if execute -%}
        {%- set table = tallyhouse._spark_watermark_table(this.identifier) -%}
        {%- do run_query('create table if not exists ' ~ table ~ ' (last_load_seq bigint, '
            ~ 'recorded_at timestamp, invocation_id string) using parquet') -%}
        {%- do run_query('insert overwrite table ' ~ table ~ ' ' ~ select_sql) -%}
    {%- endif -%}
    {{- return('') -}}
{% endmacro %}

{#- Spark: whether schema.identifier exists (SHOW, which needs the database to). -#}
{% macro _spark_table_exists(schema, identifier) -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- if run_query("show databases like '" ~ schema ~ "'") | length == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set tables = run_query("show tables in " ~ schema ~ " like '" ~ identifier ~ "'") -%}
    {{ return(identifier in tables.columns['tableName'].values()) }}
{%- endmacro %}

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

{% macro spark__watermark() -%}
    {%- set found = -1 -%}
    {%- set name = '_watermark__' ~ this.identifier -%}
    {%- if execute and tallyhouse._spark_table_exists('intermediate', name) -%}
        {%- set found = run_query(
            "select coalesce(max(last_load_seq), -1) from "
            ~ tallyhouse._spark_watermark_table(this.identifier)).columns[0].values()[0] -%}
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

{% macro spark__record_watermark(relation) %}
    {{- return(tallyhouse._spark_write_watermark(
        "select coalesce(max(last_load_seq), -1), current_timestamp(), '"
        ~ invocation_id ~ "' from " ~ relation)) -}}
{% endmacro %}

{#- The highest load number of raw relations a model has read (a post-hook), for a model
    whose own rows do not tell how far it read. `built_from` adds relations whose rows each
    carry the highest load number they were computed from (last_load_seq: int_transactions),
    for a model that reads both. -#}
{% macro record_raw_watermark(relations, built_from=[]) %}
    {{- return(adapter.dispatch('record_raw_watermark', 'tallyhouse')(relations, built_from)) -}}
{% endmacro %}

{% macro _watermark_parts(relations, built_from) -%}
    {%- set parts = [] -%}
    {%- for relation in relations -%}
        {%- do parts.append('(select max(_load_seq) from ' ~ relation ~ ')') -%}
    {%- endfor -%}
    {%- for relation in built_from -%}
        {%- do parts.append('(select max(last_load_seq) from ' ~ relation ~ ')') -%}
    {%- endfor -%}
    {{- return(parts) -}}
{%- endmacro %}

{% macro postgres__record_raw_watermark(relations, built_from=[]) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', greatest(
        -1
        {%- for part in tallyhouse._watermark_parts(relations, built_from) %},
        {{ part }}
        {%- endfor %}
    )
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{% macro spark__record_raw_watermark(relations, built_from=[]) %}
    {%- set parts = tallyhouse._watermark_parts(relations, built_from) -%}
    {{- return(tallyhouse._spark_write_watermark(
        "select greatest(-1" ~ (', ' ~ parts | join(', ') if parts else '') ~ "), "
        ~ "current_timestamp(), '" ~ invocation_id ~ "'")) -}}
{% endmacro %}

{#- The load number the last build read through, for tests scoped to what changed: on an
    incremental build they look at the rows loaded after it; on a full refresh (the weekly
    full pass, a first build, a changed project) at every row (-1). Only a build on this
    engine counts: after a build on the other one (the control plane is shared) every row
    is tested. A constant, so that the planner reads the new rows by index. -#}
{% macro checked_through() -%}
    {{ return(adapter.dispatch('checked_through', 'tallyhouse')()) }}
{%- endmacro %}

{% macro postgres__checked_through() -%}
    {%- set through = -1 -%}
    {#- a run states it (a load number, or -1), read once from the build state before dbt
        started (build_state.checked_through): its scoped tests do not each ask again. Only
        a run's own dbt process (dagster-dbt marks it) takes it: a value left in a shell's
        environment never narrows the tests of dbt started by hand -#}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set stated = (env_var('TALLYHOUSE_CHECKED_THROUGH', '')
            if env_var('DAGSTER_DBT_CLI', '') == 'true' else '') | int(-2) -%}
        {%- if stated >= -1 -%}
            {%- set through = stated -%}
        {%- elif run_query("select to_regclass('raw._build_state') is not null")
                .columns[0].values()[0] -%}
            {%- set through = run_query(
                "select coalesce((select (to_jsonb(state) ->> 'last_load_seq')::bigint"
                " from raw._build_state as state where coalesce(to_jsonb(state) ->> 'engine',"
                " 'postgres') = 'postgres'), -1)").columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ through }}
{%- endmacro %}

{#- Spark: raw._build_state as the landing copy mirrored it from the control plane
    before this run's build (one row); -1 when the table or a column is missing, when the
    last build was not on Spark or never completed. The mirror can only be older than the
    control plane's state, never newer: a test it scopes covers at least the rows since
    the last build. -#}
{% macro spark__checked_through() -%}
    {%- set through = -1 -%}
    {%- if execute and not flags.FULL_REFRESH
          and tallyhouse._spark_table_exists('raw', '_build_state') -%}
        {%- set columns = run_query('describe raw._build_state').columns[0].values() -%}
        {%- if 'last_load_seq' in columns and 'engine' in columns
              and 'in_progress' in columns -%}
            {%- set through = run_query(
                "select coalesce(max(cast(last_load_seq as bigint)), -1)"
                " from raw._build_state where engine = 'spark' and not in_progress")
                .columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ through }}
{%- endmacro %}
