{#- Ledger re-exports: a ledger (points entries, redemption orders and items, gift cards and
    their movements, payout lines) may deliver the same record again with other bytes;
    the marts keep the first delivered. -#}

{#- For a ledger re-exported with other bytes: keep one record per business `key`, the
    first delivered (lowest load number, then file and line: load numbers are drawn in
    commit order and never change, so a full refresh keeps the record an incremental run
    kept), and say why each later one is set aside. One with the same typed `values` (a
    payout amount 23.280 for 23.28, a timestamp in another format) is a duplicate
    (is_duplicate): the file reconciliation counts it as such, it is not a data issue. One
    with other values is a conflicting re-export, listed in rpt_data_issues. A record whose
    key is incomplete is never set aside (the marts leave it out, as a data issue). Adds
    is_superseded, is_duplicate and superseded_because. -#}
{% macro superseded_columns(key, values, private=[]) -%}
    {%- set window = "over (partition by " ~ (key | join(', '))
        ~ " order by _load_seq, source_file, source_line)" -%}
    {%- set later = "(" ~ (key | join(' is not null and ')) ~ " is not null and row_number() "
        ~ window ~ " > 1)" -%}
    {%- set content = surrogate_key(values) -%}
    {%- set same_values = content ~ " = first_value(" ~ content ~ ") " ~ window -%}
    {#- the values as the reason shows them: a person's identifier is never spelled out
        (the reason reaches rpt_data_issues, an analysts' mart) -#}
    {%- set shown = [] -%}
    {%- for value in values -%}
        {%- do shown.append("'[person data]'" if value in private else value) -%}
    {%- endfor -%}
    {{ later }} as is_superseded,
    ({{ later }} and {{ same_values }}) as is_duplicate,
    case
        when not {{ later }} then null
        when {{ same_values }}
            then 'duplicate: a re-export of the same {{ key | join(", ") }} with the same '
            || 'values (other formatting); the first delivered is used'
        else 'conflicting re-export: the same {{ key | join(", ") }} with other values ('
            || concat_ws(', ', {{ shown | join(', ') }}) || '); the marts use the first '
            || 'delivered: ' || first_value(concat_ws(', ', {{ shown | join(', ') }})) {{ window }}
    end as superseded_because
{%- endmacro %}

{#- The rows of `relation` (the CTE of a ledger reader's typed records) with the columns of
    superseded_columns, for a reader that is an incremental table keyed on record_hash: a
    build reads the records loaded since the last one. Each new record is ranked against the
    record kept for its key, the first delivered, which is already in the table (records are
    numbered in load order, so a later load never comes first), and only the new records
    come out: no row built before changes, and the result is the one a full build gives.
    `private`: values that identify a person, compared but never shown in the reason. -#}
{% macro with_superseded_columns(relation, key, values, private=[]) -%}
    {%- if is_incremental() -%}
        {%- set columns = [] -%}
        {%- for column in adapter.get_columns_in_relation(this)
              if column.name not in ('is_superseded', 'is_duplicate', 'superseded_because') -%}
            {%- do columns.append(column.name) -%}
        {%- endfor -%}
        {%- set key_names = [] -%}
        {%- for part in key -%}
            {%- do key_names.append(part ~ ' as key_' ~ loop.index) -%}
        {%- endfor %}
    select
        {{ columns | join(', ') }},
        is_superseded,
        is_duplicate,
        superseded_because
    from (
        select
            *,
            {{ superseded_columns(key, values, private) }}
        from (
            select
                {{ columns | join(', ') }},
                true as is_new
            from {{ relation }}
            union all
            -- the record kept for each key a new record has
            select
                {{ columns | join(', ') }},
                false as is_new
            from {{ this }}
            where
                not is_superseded
                and ({{ key | join(', ') }}) in (
                    select {{ key_names | join(', ') }} from {{ relation }}
                )
        ) as candidates
    ) as ranked
    where is_new
    {%- else %}
    select
        *,
        {{ superseded_columns(key, values, private) }}
    from {{ relation }}
    {%- endif -%}
{%- endmacro %}
