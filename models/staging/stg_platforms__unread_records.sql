{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks'),
                     source('kiwify', 'kiwify_webhooks'), source('eduzz', 'eduzz_webhooks')]) }}") }}

-- Platform records of a kind that no staging model reads (an API response dropped into a
-- webhook folder, an event type tallyhouse does not know): they stay in raw and are listed
-- in rpt_data_issues, so that no delivered record is out of sight. Member-area events
-- (Hotmart CLUB_*) carry no money and are not listed. Few raw rows end up here, so how
-- far the model has read is kept in the watermarks table (record_raw_watermark).

{%- set hotmart_event = json_text('payload', 'event') %}

with

hotmart as (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter="not coalesce(" ~ hotmart_event ~ " like 'PURCHASE\\_%'
            or " ~ hotmart_event ~ " in ('SUBSCRIPTION_CANCELLATION', 'SWITCH_PLAN')
            or " ~ hotmart_event ~ " like 'CLUB\\_%', false)"
    ) }}
),

kiwify as (
    {{ raw_payloads(
        source('kiwify', 'kiwify_webhooks'), since=watermark(),
        filter=json_type('payload', delivered=true) ~ " = 'object' and "
            ~ json_text('payload', 'order_id') ~ " is null"
    ) }}
),

eduzz as (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'), since=watermark(),
        filter="coalesce(" ~ json_text('payload', 'type') ~ ", '') not in "
            ~ "('invoice', 'invoice|contract', 'contract', 'abandonment')"
    ) }}
),

unioned as (
    select
        'hotmart' as source,
        'hotmart_webhooks' as feed,
        'event' as field,
        {{ json_text('body', 'event') }} as raw_value,
        *
    from hotmart
    union all
    select
        'kiwify' as source,
        'kiwify_webhooks' as feed,
        'order_id' as field,
        null as raw_value,
        *
    from kiwify
    union all
    select
        'eduzz' as source,
        'eduzz_webhooks' as feed,
        'type' as field,
        {{ json_text('body', 'type') }} as raw_value,
        *
    from eduzz
)

select
    {{ record_lineage() }},
    source,
    feed,
    field,
    raw_value
from unioned
