-- Events with their normalized status and payment method (through the seeds), one row per
-- platform event: a webhook redelivered under the same event id counts once.

with

events as (
    select * from {{ ref('int_transaction_events_unioned') }}
),

status_mapping as (
    select * from {{ ref('platform_status_mapping') }}
),

method_mapping as (
    select * from {{ ref('payment_method_mapping') }}
),

statuses as (
    select * from {{ ref('transaction_statuses') }}
),

deduplicated as (
    select
        *,
        row_number() over (
            partition by platform, source_event_id
            order by record_hash
        ) as delivery_number
    from events
),

mapped as (
    select
        {{ transaction_key('deduplicated.platform', 'deduplicated.platform_transaction_id') }}
            as transaction_key,
        deduplicated.*,
        coalesce(status_mapping.status_code, 'unknown') as status,
        status_mapping.status_code is null as is_unmapped_status,
        status_mapping.refund_kind,
        coalesce(method_mapping.payment_method, 'unknown') as payment_method,
        method_mapping.payment_method is null as is_unmapped_payment_method,
        coalesce(statuses.lifecycle_rank, 0) as lifecycle_rank
    from deduplicated
    left join status_mapping
        on
            deduplicated.platform = status_mapping.platform
            and deduplicated.raw_status = status_mapping.raw_status
    left join method_mapping
        on
            deduplicated.platform = method_mapping.platform
            and deduplicated.raw_payment_method = method_mapping.raw_method
    left join statuses
        on coalesce(status_mapping.status_code, 'unknown') = statuses.status_code
    where deduplicated.delivery_number = 1
)

select * from mapped
