{#- Small, documented parsing helpers shared by the staging models. -#}

{#- Hotmart sends epoch milliseconds. -#}
{% macro epoch_ms_to_timestamp(expression) -%}
    to_timestamp(({{ expression }})::numeric / 1000.0)
{%- endmacro %}

{#- Kiwify, Eduzz and Braspag send local Brazilian time without a zone. -#}
{% macro brt_to_timestamp(expression, format=none) -%}
    {%- if format -%}
    (to_timestamp(nullif({{ expression }}, ''), '{{ format }}')::timestamp
        at time zone 'America/Sao_Paulo')
    {%- else -%}
    (nullif({{ expression }}, '')::timestamp at time zone 'America/Sao_Paulo')
    {%- endif -%}
{%- endmacro %}

{#- Integer cents (Kiwify, Braspag, VTEX orders) to an amount in currency units. -#}
{% macro cents_to_amount(expression) -%}
    (({{ expression }})::numeric / 100)::numeric(18, 2)
{%- endmacro %}

{#- A decimal string or JSON number to money. Empty strings are null. -#}
{% macro to_money(expression) -%}
    nullif({{ expression }}, '')::numeric(18, 2)
{%- endmacro %}

{#- The raw records of a feed with the payload parsed into jsonb, for a staging model's
    first (materialized) CTE. `filter` is a condition on the raw row; an incremental model
    reads only the records loaded since its last build, with a lookback for late events. -#}
{% macro raw_payloads(relation, filter=none) -%}
    select
        _record_hash,
        _file_name,
        _line_no,
        _loaded_at,
        payload::jsonb as body
    from {{ relation }}
    where
        {{ filter if filter else 'true' }}
        {%- if is_incremental() %}
        and _loaded_at > (
            select coalesce(max(_loaded_at), '-infinity'::timestamptz)
                - interval '{{ var("lookback_days") }} days'
            from {{ this }}
        )
        {%- endif %}
{%- endmacro %}

{#- The key of a platform transaction across the marts. -#}
{% macro transaction_key(platform, platform_transaction_id) -%}
    md5({{ platform }} || ':' || {{ platform_transaction_id }})
{%- endmacro %}

{#- A surrogate key from columns (what dbt_utils.generate_surrogate_key does). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for column in columns -%}
        , coalesce(cast({{ column }} as text), '∅')
    {%- endfor -%}
    ))
{%- endmacro %}

{#- Sum of a Hotmart purchase's commissions whose source is one of `sources`. -#}
{% macro hotmart_commission_sum(data, sources) -%}
    (
        select coalesce(sum((c ->> 'value')::numeric(18, 2)), 0)
        from jsonb_array_elements({{ data }} -> 'commissions') as c
        where c ->> 'source' in ({{ sources }})
    )
{%- endmacro %}

{#- Transactions with an event loaded since the model's last build (less the lookback), for
    incremental models keyed on transaction_key. A table built before it recorded
    last_loaded_at is recomputed whole. -#}
{% macro touched_transactions(events) -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    select distinct transaction_key
    from {{ events }}
    {%- if 'last_loaded_at' in built %}
    where _loaded_at > (
        select
            coalesce(max(previous.last_loaded_at), '-infinity'::timestamptz)
            - interval '{{ var("lookback_days") }} days'
        from {{ this }} as previous
    )
    {%- endif %}
{%- endmacro %}
