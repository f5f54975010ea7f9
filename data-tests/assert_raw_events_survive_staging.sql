-- Integrity: every purchase record landed in raw is in the unified event stream, or listed
-- in rpt_data_issues as a record that could not be placed (no transaction id or time).

with

raw_counts as (
    select
        'hotmart' as platform,
        count(*) as records
    from {{ source('hotmart', 'hotmart_webhooks') }}
    where
        payload ->> 'event' like 'PURCHASE\_%'
        and payload ->> 'event' <> 'PURCHASE_OUT_OF_SHOPPING_CART'
    union all
    select
        'kiwify' as platform,
        count(*) as records
    from {{ source('kiwify', 'kiwify_webhooks') }}
    where
        json_typeof(payload) = 'object'
        and payload ->> 'webhook_event_type' <> 'subscription_canceled'
    union all
    select
        'eduzz' as platform,
        count(*) as records
    from {{ source('eduzz', 'eduzz_webhooks') }}
    where payload ->> 'type' in ('invoice', 'invoice|contract')
    union all
    select
        'pix' as platform,
        count(*) as records
    from {{ source('pix', 'pix_payments') }}
),

placed_or_listed as (
    select
        platform,
        record_hash
    from {{ ref('int_transaction_events_unioned') }}
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
),

unified_counts as (
    select
        platform,
        count(*) as records
    from placed_or_listed
    group by platform
)

select
    raw_counts.platform,
    raw_counts.records as raw_records,
    coalesce(unified_counts.records, 0) as unified_records
from raw_counts
left join unified_counts on raw_counts.platform = unified_counts.platform
where raw_counts.records <> coalesce(unified_counts.records, 0)
