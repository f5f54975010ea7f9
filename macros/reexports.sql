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
{% macro superseded_columns(key, values) -%}
    {%- set window = "over (partition by " ~ (key | join(', '))
        ~ " order by _load_seq, source_file, source_line)" -%}
    {%- set later = "(" ~ (key | join(' is not null and ')) ~ " is not null and row_number() "
        ~ window ~ " > 1)" -%}
    {%- set content = surrogate_key(values) -%}
    {%- set same_values = content ~ " = first_value(" ~ content ~ ") " ~ window -%}
    {{ later }} as is_superseded,
    ({{ later }} and {{ same_values }}) as is_duplicate,
    case
        when not {{ later }} then null
        when {{ same_values }}
            then 'duplicate: a re-export of the same {{ key | join(", ") }} with the same '
            || 'values (other formatting); the first delivered is used'
        else 'conflicting re-export: the same {{ key | join(", ") }} with other values ('
            || concat_ws(', ', {{ values | join(', ') }}) || '); the marts use the first '
            || 'delivered: ' || first_value(concat_ws(', ', {{ values | join(', ') }})) {{ window }}
    end as superseded_because
{%- endmacro %}
