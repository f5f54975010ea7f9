-- Integrity: every purchase record landed in raw is in the unified event stream, or listed
-- in rpt_data_issues as a record that could not be placed (no transaction id or time).
-- One row per record that is neither. On an incremental build the records loaded since
-- the last build are checked (checked_through); on a full refresh, every record.

{%- set through = checked_through() %}

with

raw_records as (
    select
        'hotmart' as platform,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line
    from {{ source('hotmart', 'hotmart_webhooks') }}
    where
        _load_seq > {{ through }}
        and payload ->> 'event' like 'PURCHASE\_%'
        and payload ->> 'event' <> 'PURCHASE_OUT_OF_SHOPPING_CART'
    union all
    select
        'kiwify' as platform,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line
    from {{ source('kiwify', 'kiwify_webhooks') }}
    where
        _load_seq > {{ through }}
        and json_typeof(payload) = 'object'
        and payload ->> 'webhook_event_type' <> 'subscription_canceled'
    union all
    select
        'eduzz' as platform,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line
    from {{ source('eduzz', 'eduzz_webhooks') }}
    where
        _load_seq > {{ through }}
        and payload ->> 'type' in ('invoice', 'invoice|contract')
    union all
    select
        'pix' as platform,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line
    from {{ source('pix', 'pix_payments') }}
    where _load_seq > {{ through }}
),

placed_or_listed as (
    select
        platform,
        record_hash
    from {{ ref('int_transaction_events_unioned') }}
    -- a PIX event counts as loaded when its payment or its order was: never earlier
    where _load_seq > {{ through }}
    union
    select
        source as platform,
        record_hash
    from {{ ref('rpt_data_issues') }}
    where
        record_left_out
        and read_by in (
            'stg_hotmart__purchase_events', 'stg_kiwify__order_events',
            'stg_eduzz__invoice_events', 'stg_pix__payment_events'
        )
)

select raw_records.*
from raw_records
left join placed_or_listed
    on
        raw_records.platform = placed_or_listed.platform
        and raw_records.record_hash = placed_or_listed.record_hash
where placed_or_listed.record_hash is null
