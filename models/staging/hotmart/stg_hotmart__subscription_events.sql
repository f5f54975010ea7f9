-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter="payload ->> 'event' in ('SUBSCRIPTION_CANCELLATION', 'SWITCH_PLAN')"
    ) }}
),

events as (
    select
        *,
        {{ json_object("body -> 'data'", 'data', issues) }} as data,
        {{ json_object("body -> 'data' -> 'subscriber'", 'data.subscriber', issues) }}
            as subscriber,
        {{ json_object("body -> 'data' -> 'subscription'", 'data.subscription', issues) }}
            as subscription,
        {{ json_array("body -> 'data' -> 'plans'", 'data.plans', issues) }} as plans
    from source
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        'hotmart' as platform,
        {{ hotmart_event_header(issues) }}
        {{ required("coalesce(subscriber ->> 'code', subscription ->> 'subscriber_code')",
                    'data.subscriber.code', issues) }} as platform_subscription_id,
        case body ->> 'event'
            when 'SUBSCRIPTION_CANCELLATION' then
                {{ epoch_ms("data ->> 'cancellation_date'", 'data.cancellation_date', issues) }}
        end as cancelled_at,
        case body ->> 'event'
            when 'SWITCH_PLAN' then
                {{ epoch_ms("data ->> 'switch_plan_date'", 'data.switch_plan_date', issues) }}
        end as switched_at,
        (
            select p ->> 'id'
            from {{ json_array_elements('plans') }} as p
            where p ->> 'current' = 'true'
            order by p ->> 'id'
            limit 1
        ) as new_plan_id,
        (
            select p ->> 'name'
            from {{ json_array_elements('plans') }} as p
            where p ->> 'current' = 'true'
            order by p ->> 'id'
            limit 1
        ) as new_plan_name,
        {{ data_issues_column(issues) }} as data_issues
    from events
)

select * from renamed
