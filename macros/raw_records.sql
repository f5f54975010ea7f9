{#- Raw records: what a staging model reads from schema raw, and the columns that say where
    each of its rows came from.

    Raw keeps each record as delivered, with its hash (_record_hash), file (_file_name),
    line (_line_no) and load number (_load_seq, drawn under the load lock, so it grows in
    commit order and no interleaving of loads and builds skips a record). -#}

{#- The raw records of a feed with the payload parsed (`body`), for a staging model's
    first (materialized) CTE. `filter` is a condition on the raw row. An incremental model
    reads only the records loaded after its last build.
    `since`: the load number already read, when `this` does not keep it itself (a model
    that keeps only a few of the rows it reads records it with record_raw_watermark). -#}
{% macro raw_payloads(relation, filter=none, since=none) -%}
    select
        _record_hash,
        _file_name,
        _line_no,
        _load_seq,
        {{ json_parsed('payload') }} as body
    from {{ relation }}
    where
        {{ filter if filter else 'true' }}
        {%- if is_incremental() and since is not none %}
        and _load_seq > {{ since }}
        {%- elif is_incremental() %}
        and {{ loaded_since_last_build() }}
        {%- endif %}
{%- endmacro %}

{#- The raw rows (CSV feeds) of a relation, incrementally like raw_payloads. -#}
{% macro raw_rows(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ loaded_since_last_build() }}
    {%- endif %}
{%- endmacro %}

{#- Rows of raw loaded after what `this` has read. A table built before it kept
    _load_seq reads everything again. -#}
{% macro loaded_since_last_build() -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if '_load_seq' in built -%}
    _load_seq > (select coalesce(max(_load_seq), -1) from {{ this }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{#- Where a staging row came from, the first columns of every staging model: record_hash
    (hex text), source_file, source_line and, unless load_seq=false, _load_seq (for
    incremental reads downstream). `relation`: the alias the raw columns are read
    through, when the query joins. -#}
{% macro record_lineage(relation=none, load_seq=true) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ bytes_to_hex(prefix ~ '_record_hash') }} as record_hash,
        {{ prefix }}_file_name as source_file,
        {{ prefix }}_line_no as source_line
    {%- if load_seq %},
        {{ prefix }}_load_seq
    {%- endif %}
{%- endmacro %}
