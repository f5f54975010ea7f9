{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks'),
                     source('kiwify', 'kiwify_webhooks'), source('eduzz', 'eduzz_webhooks')]) }}") }}

-- Platform records of a kind that no staging model reads (an API response dropped into a
-- webhook folder, an event type tallyhouse does not know): they stay in raw and are listed
-- in rpt_data_issues, so that no delivered record is out of sight. Member-area events
-- (Hotmart CLUB_*) carry no money and are not listed. Few raw rows end up here, so how
-- far the model has read is kept in the watermarks table (record_raw_watermark).

with

hotmart as (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter="not coalesce(payload ->> 'event' like 'PURCHASE\\_%'
            or payload ->> 'event' in ('SUBSCRIPTION_CANCELLATION', 'SWITCH_PLAN')
            or payload ->> 'event' like 'CLUB\\_%', false)"
    ) }}
),

kiwify as (
    {{ raw_payloads(
        source('kiwify', 'kiwify_webhooks'), since=watermark(),
        filter="json_typeof(payload) = 'object' and payload ->> 'order_id' is null"
    ) }}
),

eduzz as (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'), since=watermark(),
        filter="coalesce(payload ->> 'type', '') not in "
            ~ "('invoice', 'invoice|contract', 'contract', 'abandonment')"
    ) }}
),

unioned as (
    select
        'hotmart' as source,
        'hotmart_webhooks' as feed,
        'event' as field,
        body ->> 'event' as raw_value,
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
        body ->> 'type' as raw_value,
        *
    from eduzz
)

select
    encode(_record_hash, 'hex') as record_hash,
    source,
    feed,
    _file_name as source_file,
    _line_no as source_line,
    _load_seq,
    field,
    raw_value
from unioned
