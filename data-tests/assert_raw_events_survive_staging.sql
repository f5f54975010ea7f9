-- Integrity: every purchase record landed in raw (is_purchase_event, the predicate staging
-- reads purchases by) is in the unified event stream, or listed in rpt_data_issues as a
-- record that could not be placed (no transaction id or time). One row per record that is
-- neither. On an incremental build the records loaded since the last build are checked
-- (checked_through); on a full refresh, every record.

{%- set through = checked_through() %}

with

raw_records as (
    select
        'hotmart' as platform,
        {{ record_lineage(load_seq=false) }}
    from {{ source('hotmart', 'hotmart_webhooks') }}
    where
        _load_seq > {{ through }}
        and {{ is_purchase_event('hotmart', 'payload', delivered=true) }}
    union all
    select
        'kiwify' as platform,
        {{ record_lineage(load_seq=false) }}
    from {{ source('kiwify', 'kiwify_webhooks') }}
    where
        _load_seq > {{ through }}
        and {{ is_purchase_event('kiwify', 'payload', delivered=true) }}
    union all
    select
        'eduzz' as platform,
        {{ record_lineage(load_seq=false) }}
    from {{ source('eduzz', 'eduzz_webhooks') }}
    where
        _load_seq > {{ through }}
        and {{ is_purchase_event('eduzz', 'payload', delivered=true) }}
    union all
    select
        'pix' as platform,
        {{ record_lineage(load_seq=false) }}
    from {{ source('pix', 'pix_payments') }}
    where
        _load_seq > {{ through }}
        and {{ is_purchase_event('pix', 'payload', delivered=true) }}
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
