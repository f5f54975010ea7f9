{#- Replacing rows by key on Spark: by bucket of the key.

    On PostgreSQL a model keyed on a transaction (or a customer, a PIX order) replaces the
    rows of the keys it recomputed: dbt's delete+insert. Parquet has no DELETE. On Spark
    such a model is partitioned by a bucket of its key, `_key_bucket` (a hash of the key
    modulo the `spark_key_buckets` var), and a build overwrites only the buckets its
    recomputed rows fall in: each with the rows it held for other keys, plus the recomputed
    rows — what delete+insert leaves, bucket by bucket (Spark's dynamic partition
    overwrite). A run for one webhook rewrites a sixteenth of these tables, not all of them.

    A model opts in with

        config(materialized='incremental', unique_key='transaction_key',
               incremental_strategy=replace_by_key(), partition_by=key_buckets())

    and its SQL is the same on both engines: the bucket column is added around it on
    Spark, never written in a model. -#}


{#- The partitioning of a model replaced by key: a bucket of the key on Spark, none on
    PostgreSQL (a config value, read when the project is parsed). -#}
{% macro key_buckets() -%}
    {{- return(adapter.dispatch('key_buckets', 'tallyhouse')()) -}}
{%- endmacro %}

{% macro default__key_buckets() -%}
    {{- return(none) -}}
{%- endmacro %}

{% macro spark__key_buckets() -%}
    {{- return(['_key_bucket']) -}}
{%- endmacro %}


{#- The number of buckets (the `spark_key_buckets` var); a table records the number it was
    made with as its property `tallyhouse.key_buckets`. -#}
{% macro key_bucket_count() -%}
    {{- return(var('spark_key_buckets', 16) | int) -}}
{%- endmacro %}

{#- May the existing table of a model replaced by key bucket be built incrementally? Only
    when it was made with today's bucketing: a table from before the model was bucketed,
    or made with another number of buckets, would keep a key's old rows in a bucket that
    is never overwritten (two rows where PostgreSQL has one). It is rebuilt instead —
    also when dbt is run by hand with another `spark_key_buckets`. -#}
{% macro key_buckets_unchanged() -%}
    {%- if not execute -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set existing = load_relation(this) -%}
    {%- if existing is none -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set shown = run_query("show tblproperties " ~ existing
                              ~ " ('tallyhouse.key_buckets')") -%}
    {%- set recorded = shown.rows[0][shown.column_names | length - 1] | string
                       if shown.rows | length > 0 else '' -%}
    {{- return(recorded == (tallyhouse.key_bucket_count() | string)) -}}
{%- endmacro %}


{#- Is the model being built one replaced by bucket of its key (on Spark)? -#}
{% macro replaces_by_key_buckets() -%}
    {%- set partitions = config.get('partition_by') -%}
    {{- return(target.type == 'spark'
               and config.get('materialized') == 'incremental'
               and config.get('incremental_strategy') == 'insert_overwrite'
               and config.get('unique_key') is string
               and partitions in (['_key_bucket'], '_key_bucket')) -}}
{%- endmacro %}

{#- The bucket of a key: a 64-bit hash of its text, modulo the number of buckets. A null
    key has a bucket too (the hash of null). -#}
{% macro key_bucket(key) -%}
    pmod(xxhash64(cast({{ key }} as string)), {{ tallyhouse.key_bucket_count() }})
{%- endmacro %}


{#- A model's table (or the view of its recomputed rows) on Spark, with the bucket of its
    key added as the last column when the model is replaced by key bucket; otherwise
    dbt-spark's statement as it is. A contract is checked against the model's own query
    (the bucket is the engine's, not a column the model promises; on an incremental build
    too), then the table is created as dbt-spark creates it, partitioned by the bucket and
    recording the number of buckets (no model here sets table properties of its own). -#}
{% macro spark__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- if language != 'sql' or not tallyhouse.replaces_by_key_buckets() -%}
        {{- return(dbt.spark__create_table_as(temporary, relation, compiled_code,
                                                    language)) -}}
    {%- endif -%}
    {%- set contracted = config.get('contract').enforced -%}
    {%- if contracted -%}
        {%- do get_assert_columns_equivalent(compiled_code) -%}
    {%- endif -%}
    {%- if temporary -%}
        {{- return(create_temporary_view(relation,
                                         tallyhouse.with_key_bucket(compiled_code))) -}}
    {%- endif -%}
    {%- if contracted -%}
        {%- set compiled_code = get_select_subquery(compiled_code) -%}
    {%- endif %}
    {% if config.get('file_format') in ['delta', 'iceberg'] -%}
    create or replace table {{ relation }}
    {%- else -%}
    create table {{ relation }}
    {%- endif %}
    {{ file_format_clause() }}
    {{ options_clause() }}
    tblproperties ('tallyhouse.key_buckets' = '{{ tallyhouse.key_bucket_count() }}')
    {{ partition_cols(label="partitioned by") }}
    {{ location_clause() }}
    {{ comment_clause() }}
    as
    {{ tallyhouse.with_key_bucket(compiled_code) }}
{%- endmacro %}

{#- A model's query with the bucket of its key as one more, last, column. -#}
{% macro with_key_bucket(compiled_code) -%}
    select keyed.*, {{ tallyhouse.key_bucket('keyed.' ~ config.get('unique_key')) }}
        as _key_bucket
    from (
        {{ compiled_code }}
    ) as keyed
{%- endmacro %}


{#- The incremental statement of a model replaced by key bucket: the recomputed rows are
    first written to a table of their own (the model's query runs once, not once per
    reference below), then every bucket they fall in is overwritten with the rows it held
    for keys not recomputed and the recomputed rows. A key's rows are all in its bucket, so
    a recomputed key loses every row it had (as delete+insert deletes them) and a key not
    recomputed keeps all of its rows. A null key is never recomputed (no row matches it),
    as on PostgreSQL. -#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) -%}
    {%- if not tallyhouse.replaces_by_key_buckets() -%}
        {{- return(dbt.get_insert_overwrite_sql(source_relation, target_relation,
                                                      existing_relation)) -}}
    {%- endif -%}
    {%- set key = config.get('unique_key') -%}
    {%- set recomputed = tallyhouse.recomputed_rows_relation(target_relation) -%}
    {%- do run_query('drop table if exists ' ~ recomputed) -%}
    {%- do run_query('create table ' ~ recomputed ~ ' using parquet as select * from '
                     ~ source_relation) -%}
    {%- set columns = adapter.get_columns_in_relation(target_relation)
                      | map(attribute='quoted') | join(', ') -%}
    insert overwrite table {{ target_relation }} partition (_key_bucket)
    select {{ columns }} from {{ target_relation }} as kept
    where kept._key_bucket in (select distinct _key_bucket from {{ recomputed }})
        and not exists (
            select 1 from {{ recomputed }} as recomputed
            where recomputed.{{ key }} = kept.{{ key }}
        )
    union all
    select {{ columns }} from {{ recomputed }}
{%- endmacro %}

{#- Where a build keeps the rows it recomputed until they are in the model's table. -#}
{% macro recomputed_rows_relation(relation) -%}
    {{- return(relation.incorporate(path={'identifier': relation.identifier
                                                         ~ '__recomputed'})) -}}
{%- endmacro %}

{#- After the model's build: its recomputed rows' table is dropped (a project post-hook;
    nothing anywhere else). -#}
{% macro drop_recomputed_rows() -%}
    {%- if tallyhouse.replaces_by_key_buckets() %}
        drop table if exists {{ tallyhouse.recomputed_rows_relation(this) }}
    {%- endif -%}
{%- endmacro %}
