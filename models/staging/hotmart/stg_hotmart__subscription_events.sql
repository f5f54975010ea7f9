-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter=reader_records(model.name, 'payload', delivered=true)
    ) }}
),

events as (
    select
        *,
        {{ json_object(json_get('body', 'data'), 'data', issues) }} as data,
        {{ json_object(json_get('body', 'data', 'subscriber'), 'data.subscriber', issues) }}
            as subscriber,
        {{ json_object(json_get('body', 'data', 'subscription'), 'data.subscription',
                       issues) }} as subscription,
        {{ json_array(json_get('body', 'data', 'plans'), 'data.plans', issues) }} as plans
    from source
),

renamed as (
    select
        {{ record_lineage() }},
        'hotmart' as platform,
        {{ hotmart_event_header(issues) }}
        {{ required("coalesce(" ~ json_text('subscriber', 'code') ~ ", "
                    ~ json_text('subscription', 'subscriber_code') ~ ")",
                    'data.subscriber.code', issues) }} as platform_subscription_id,
        case {{ json_text('body', 'event') }}
            when 'SUBSCRIPTION_CANCELLATION' then
                {{ epoch_ms(json_text('data', 'cancellation_date'), 'data.cancellation_date',
                            issues) }}
        end as cancelled_at,
        case {{ json_text('body', 'event') }}
            when 'SWITCH_PLAN' then
                {{ epoch_ms(json_text('data', 'switch_plan_date'), 'data.switch_plan_date',
                            issues) }}
        end as switched_at,
        {% call json_elements_scalar('plans', 'p',
                {'first': {'kind': 'first', 'value': json_text('p.value', 'id'),
                           'where': json_text('p.value', 'current') ~ " = 'true'",
                           'order_by': json_text('p.value', 'id')}}) -%}
        (
            select {{ json_text('p.value', 'id') }}
            from {{ json_elements('plans', 'p') }}
            where {{ json_text('p.value', 'current') }} = 'true'
            order by {{ json_text('p.value', 'id') }}
            limit 1
        )
        {%- endcall %} as new_plan_id,
        {% call json_elements_scalar('plans', 'p',
                {'first': {'kind': 'first', 'value': json_text('p.value', 'name'),
                           'where': json_text('p.value', 'current') ~ " = 'true'",
                           'order_by': json_text('p.value', 'id')}}) -%}
        (
            select {{ json_text('p.value', 'name') }}
            from {{ json_elements('plans', 'p') }}
            where {{ json_text('p.value', 'current') }} = 'true'
            order by {{ json_text('p.value', 'id') }}
            limit 1
        )
        {%- endcall %} as new_plan_name,
        {{ data_issues_column(issues) }} as data_issues
    from events
)

select * from renamed
