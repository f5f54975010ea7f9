with

source as materialized (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'),
        filter="payload ->> 'event' in ('SUBSCRIPTION_CANCELLATION', 'SWITCH_PLAN')"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _loaded_at,
        'hotmart' as platform,
        body ->> 'id' as source_event_id,
        body ->> 'event' as event_name,
        {{ epoch_ms_to_timestamp("body ->> 'creation_date'") }} as event_at,
        coalesce(
            body -> 'data' -> 'subscriber' ->> 'code',
            body -> 'data' -> 'subscription' ->> 'subscriber_code'
        ) as platform_subscription_id,
        case body ->> 'event'
            when 'SUBSCRIPTION_CANCELLATION' then
                {{ epoch_ms_to_timestamp("body -> 'data' ->> 'cancellation_date'") }}
        end as cancelled_at,
        case body ->> 'event'
            when 'SWITCH_PLAN' then
                {{ epoch_ms_to_timestamp("body -> 'data' ->> 'switch_plan_date'") }}
        end as switched_at,
        (
            select p ->> 'id'
            from jsonb_array_elements(source.body -> 'data' -> 'plans') as p
            where (p ->> 'current')::boolean
        ) as new_plan_id,
        (
            select p ->> 'name'
            from jsonb_array_elements(source.body -> 'data' -> 'plans') as p
            where (p ->> 'current')::boolean
        ) as new_plan_name
    from source
)

select * from renamed
