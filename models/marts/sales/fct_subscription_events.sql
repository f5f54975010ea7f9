-- The history of each subscription: every charge, plan switch and cancellation, in
-- event-time order.

-- Incremental by subscription: the subscriptions touched since the last build (a charge
-- computed again, a subscription event loaded: touched_subscriptions_since_build) are
-- forgotten (pre-hook) and their whole history computed again, numbered from the first
-- event; every other subscription's rows stay.
-- The touched subscriptions are named only on an incremental build, which dbt does not
-- see while parsing: the relations they are read from are named here.
{{ depends_on_purchase_streams() }}
-- depends_on: {{ ref('int_transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_touched_subscriptions() }}",
          post_hook="{{ record_raw_watermark(subscription_event_relations(),
                                             built_from=[ref('int_transactions')]) }}") }}

with

{% if is_incremental() %}
    touched as (
        {{ touched_subscriptions_since_build() }}
    ),
{% endif %}

charges as (
    select
        subscription_key,
        platform,
        platform_subscription_id,
        ordered_at as event_at,
        case when has_been_approved then 'charge_paid' else 'charge_failed' end as event_type,
        transaction_key,
        recurrence_number,
        plan_name,
        offer_price as amount,
        currency_code
    from {{ ref('fct_transactions') }}
    where subscription_key is not null and {{ of_touched_subscriptions() }}
),

hotmart as (
    select
        {{ dbt.hash("'hotmart:' || platform_subscription_id") }} as subscription_key,
        platform,
        platform_subscription_id,
        event_at,
        case event_name
            when 'SUBSCRIPTION_CANCELLATION' then 'cancelled'
            else 'plan_switched'
        end as event_type,
        cast(null as {{ type_text() }}) as transaction_key,
        cast(null as {{ type_int() }}) as recurrence_number,
        new_plan_name as plan_name,
        cast(null as {{ type_money() }}) as amount,
        cast(null as {{ type_text() }}) as currency_code
    from {{ ref('stg_hotmart__subscription_events') }}
    where {{ of_touched_subscriptions() }}
),

kiwify as (
    select
        {{ dbt.hash("'kiwify:' || platform_subscription_id") }} as subscription_key,
        platform,
        platform_subscription_id,
        event_at,
        'cancelled' as event_type,
        cast(null as {{ type_text() }}) as transaction_key,
        cast(null as {{ type_int() }}) as recurrence_number,
        plan_name,
        cast(null as {{ type_money() }}) as amount,
        cast(null as {{ type_text() }}) as currency_code
    from {{ ref('stg_kiwify__order_events') }}
    where event_name = 'subscription_canceled' and {{ of_touched_subscriptions() }}
),

eduzz as (
    select
        {{ dbt.hash("'eduzz:' || platform_subscription_id") }} as subscription_key,
        platform,
        platform_subscription_id,
        cancelled_at as event_at,
        'cancelled' as event_type,
        cast(null as {{ type_text() }}) as transaction_key,
        cast(null as {{ type_int() }}) as recurrence_number,
        cast(null as {{ type_text() }}) as plan_name,
        cast(null as {{ type_money() }}) as amount,
        cast(null as {{ type_text() }}) as currency_code
    from {{ ref('stg_eduzz__contract_events') }}
    where {{ of_touched_subscriptions() }}
),

unioned as (
    select * from charges
    union all
    select * from hotmart
    union all
    select * from kiwify
    union all
    select * from eduzz
),

keyed as (
    select
        {{ dbt.hash(
            "subscription_key || ':' || event_type || ':' || " ~ utc_text('event_at')
            ~ " || ':' || coalesce(transaction_key, '')"
        ) }} as subscription_event_key,
        *
    from unioned
    -- events without a subscription id or a time are listed in rpt_data_issues
    where platform_subscription_id is not null and event_at is not null
),

-- a redelivery with other bytes (same subscription, event and time) counts once
deduplicated as (
    {{ first_per_key('keyed', 'subscription_event_key', order_by='plan_name, amount') }}
),

final as (
    select
        subscription_event_key,
        subscription_key,
        platform,
        platform_subscription_id,
        {% call row_number_bigint() -%}
        -- events at the same time and of the same type (two charges in one second) in
        -- the order of their keys: the same numbers on every build
        row_number() over (
            partition by subscription_key
            order by event_at, event_type, subscription_event_key
        )
        {%- endcall %} as event_number,
        event_at,
        event_type,
        transaction_key,
        recurrence_number,
        plan_name,
        amount,
        currency_code
    from deduplicated
)

select * from final
