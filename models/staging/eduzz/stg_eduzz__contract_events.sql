with

source as materialized (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'),
        filter="payload ->> 'type' = 'contract'"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        'eduzz' as platform,
        body ->> 'recurrence_cod' as platform_subscription_id,
        body ->> 'recurrence_status' as raw_contract_status,
        {{ brt_to_timestamp("body ->> 'recurrence_canceled_at'") }} as cancelled_at
    from source
)

select * from renamed
