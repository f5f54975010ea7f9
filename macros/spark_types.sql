{#- The warehouse's column types, as Spark spells them.

    The project states its types once, in PostgreSQL's words (contracts' data_type, the
    seeds' column_types): text, numeric(p, s), timestamp with time zone, text[], jsonb.
    On Spark the same declarations are read through _spark_type_name, so a contract compares
    what a model returns with what its yml promises, and a seed is created with the types
    it declares. -#}

{% macro _spark_type_name(data_type) -%}
    {%- set declared = (data_type | string) | trim | lower -%}
    {%- set plain = {
        'text': 'string', 'varchar': 'string', 'character varying': 'string',
        'timestamp with time zone': 'timestamp', 'timestamptz': 'timestamp',
        'timestamp without time zone': 'timestamp_ntz',
        'jsonb': 'string', 'json': 'string', 'bytea': 'binary',
        'double precision': 'double', 'real': 'float',
        'integer': 'int', 'int4': 'int', 'int8': 'bigint', 'bool': 'boolean',
    } -%}
    {%- if declared in plain -%}
        {{- plain[declared] -}}
    {%- elif declared.endswith('[]') -%}
        array<{{ _spark_type_name(declared[:-2]) }}>
    {%- elif declared.startswith('numeric') -%}
        decimal{{ declared[7:] | replace(' ', '') }}
    {%- else -%}
        {{- declared -}}
    {%- endif -%}
{%- endmacro %}


{#- dbt types the yml's columns by asking the engine what `cast(null as <type>)` is: on
    Spark the PostgreSQL names are translated first. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set missing = [] -%}
    select
    {%- for name in columns %}
        {%- set column = columns[name] -%}
        {%- if column['data_type'] is not defined or not column['data_type'] -%}
            {%- do missing.append(column['name']) -%}
        {%- endif %}
        cast(null as {{ _spark_type_name(column.get('data_type') or 'string') }}) as
        {{ adapter.quote(column['name']) if column.get('quote') else column['name'] }}
        {{- ',' if not loop.last }}
    {%- endfor %}
    {%- if missing | length > 0 -%}
        {{ exceptions.column_type_missing(column_names=missing) }}
    {%- endif -%}
{%- endmacro %}


{#- A seed's table on Spark: its declared column types translated, the rest inferred. -#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- set declared = model['config'].get('column_types', {}) -%}
    {%- set quoting = model['config'].get('quote_columns', None) -%}
    {%- set sql -%}
        create table {{ this.render() }} (
        {%- for name in agate_table.column_names %}
            {%- set chosen = declared.get(name) -%}
            {{ adapter.quote_seed_column(name | string, quoting) }}
            {{ _spark_type_name(chosen) if chosen else adapter.convert_type(agate_table, loop.index0) }}
            {{- ',' if not loop.last }}
        {%- endfor %}
        )
        {{ file_format_clause() }}
        {{ location_clause() }}
        {{ comment_clause() }}
    {%- endset -%}
    {%- call statement('_') -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(sql) }}
{%- endmacro %}


{#- How an incremental model replaces the rows of the keys it recomputes. PostgreSQL deletes
    them and inserts the new ones. Spark's Parquet tables have no DELETE: there the model
    overwrites the buckets of the keys it recomputed (macros/key_buckets.sql; the model
    also says partition_by=key_buckets()). -#}
{% macro replace_by_key() -%}
    {{- return(adapter.dispatch('replace_by_key', 'tallyhouse')()) -}}
{%- endmacro %}

{% macro default__replace_by_key() -%}
    {{- return('delete+insert') -}}
{%- endmacro %}

{% macro spark__replace_by_key() -%}
    {{- return('insert_overwrite') -}}
{%- endmacro %}


{#- Which models a build on Spark may extend rather than rebuild. Spark's Parquet tables
    have no DELETE, so a model that replaces rows by key is built incrementally there only
    when it overwrites the buckets of its keys (replaces_by_key_buckets); one with a
    `delete from` pre-hook is rebuilt from raw on every build that selects it, even
    without --full-refresh. A model keyed on raw's record hash only ever adds rows: each
    record is read once (the loader lands a record hash once) and its staging row depends
    on that record alone, so appending the records loaded since its last build is all a
    build has to do (on PostgreSQL too: such models are `append`, a delete by record hash
    found nothing and read the whole table to find it). On every other engine this is dbt's
    own rule. -#}
{% macro should_full_refresh() -%}
    {%- set configured = dbt.should_full_refresh() -%}
    {%- if not configured and target.type == 'spark'
          and config.get('materialized') == 'incremental'
          and not tallyhouse.appends_records_only()
          and not (tallyhouse.replaces_by_key_buckets()
                   and tallyhouse.key_buckets_unchanged()) -%}
        {%- set configured = true -%}
    {%- endif -%}
    {{- return(configured) -}}
{%- endmacro %}

{#- An incremental model that only adds rows, one per raw record: keyed on record_hash,
    with the default strategy (or append). -#}
{% macro appends_records_only() -%}
    {{- return(config.get('unique_key') == 'record_hash'
               and config.get('incremental_strategy') in (none, 'append')) -}}
{%- endmacro %}


{#- A seed's rows on Spark, in batches, each value cast to its column's (translated) type. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set declared = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- set chosen = declared.get(name) -%}
        {%- do types.append(_spark_type_name(chosen) if chosen
                            else adapter.convert_type(agate_table, loop.index0)) -%}
    {%- endfor -%}
    {%- set first = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set bindings = [] -%}
        {%- for row in chunk -%}
            {%- do bindings.extend(row) -%}
        {%- endfor -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {%- for row in chunk %}
            ({%- for type in types -%}
                cast({{ get_binding_char() }} as {{ type }}){{ ', ' if not loop.last }}
            {%- endfor -%}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) -%}
        {%- if not first -%}
            {%- do first.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(first[0] if first else '') }}
{%- endmacro %}
