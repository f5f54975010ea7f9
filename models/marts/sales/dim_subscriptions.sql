-- One subscription: its plan, customer, status, start, cancellation and recurrences.

-- Incremental by subscription, as fct_subscription_events: the subscriptions touched since
-- the last build are forgotten (pre-hook) and computed again from all their charges and
-- events; a subscription left with no charge is gone.
-- The touched subscriptions are named only on an incremental build, which dbt does not
-- see while parsing: the relations they are read from are named here.
{{ depends_on_purchase_streams() }}
-- depends_on: {{ ref('int_transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_touched_subscriptions() }}",
          post_hook="{{ record_raw_watermark(subscription_event_relations(),
                                             built_from=[ref('int_transactions')]) }}") }}

{#- a subscription's charges in time order (ties: by transaction key), first or latest -#}
{%- set first_charge = 'transactions.ordered_at, transactions.transaction_key' %}
{%- set latest_charge = 'transactions.ordered_at desc, transactions.transaction_key desc' %}

with

{% if is_incremental() %}
    touched as (
        {{ touched_subscriptions_since_build() }}
    ),
{% endif %}

transactions as (
    select * from {{ ref('fct_transactions') }}
    where subscription_key is not null and {{ of_touched_subscriptions() }}
),

hotmart_events as (
    select * from {{ ref('stg_hotmart__subscription_events') }}
    where {{ of_touched_subscriptions() }}
),

kiwify_cancellations as (
    select
        platform_subscription_id,
        min(event_at) as cancelled_at
    from {{ ref('stg_kiwify__order_events') }}
    where event_name = 'subscription_canceled' and {{ of_touched_subscriptions() }}
    group by platform_subscription_id
),

eduzz_cancellations as (
    select
        platform_subscription_id,
        min(cancelled_at) as cancelled_at
    from {{ ref('stg_eduzz__contract_events') }}
    where {{ of_touched_subscriptions() }}
    group by platform_subscription_id
),

cancellations as (
    select
        'hotmart' as platform,
        platform_subscription_id,
        min(cancelled_at) as cancelled_at
    from hotmart_events
    where event_name = 'SUBSCRIPTION_CANCELLATION'
    group by platform_subscription_id
    union all
    select
        'kiwify' as platform,
        platform_subscription_id,
        cancelled_at
    from kiwify_cancellations
    union all
    select
        'eduzz' as platform,
        platform_subscription_id,
        cancelled_at
    from eduzz_cancellations
),

plan_switches as (
    select
        platform_subscription_id,
        count(*) as plan_switches
    from hotmart_events
    where event_name = 'SWITCH_PLAN'
    group by platform_subscription_id
),

last_paid as (
    {{ first_per_key('transactions', 'subscription_key', order_by='ordered_at desc',
                     columns='subscription_key, offer_price as last_paid_amount',
                     where='has_been_approved') }}
),

charges as (
    select
        transactions.subscription_key,
        transactions.platform,
        transactions.platform_subscription_id,
        min(transactions.ordered_at) as first_charge_at,
        {{ max_where('transactions.ordered_at', 'transactions.has_been_approved') }}
            as last_paid_charge_at,
        count(*) as charges,
        {{ count_where('transactions.has_been_approved') }} as paid_charges,
        {{ first_in_order('transactions.transaction_key', first_charge) }}
            as initial_transaction_key,
        {{ first_in_order('transactions.plan_name', latest_charge) }} as plan_name,
        {{ first_in_order('transactions.plan_id', latest_charge) }} as plan_id,
        {{ first_in_order('transactions.customer_key', first_charge) }} as customer_key,
        {{ first_in_order('transactions.currency_code', latest_charge) }} as currency_code,
        max(last_paid.last_paid_amount) as last_paid_amount,
        {{ dbt.bool_or('transactions.has_been_approved') }} as has_paid_charge
    from transactions
    left join last_paid on transactions.subscription_key = last_paid.subscription_key
    group by
        transactions.subscription_key,
        transactions.platform,
        transactions.platform_subscription_id
),

final as (
    select
        charges.subscription_key,
        charges.platform,
        charges.platform_subscription_id,
        charges.plan_id,
        charges.plan_name,
        charges.customer_key,
        charges.initial_transaction_key,
        charges.first_charge_at as started_at,
        cancellations.cancelled_at,
        case
            when cancellations.cancelled_at is not null then 'cancelled'
            when not charges.has_paid_charge then 'never_started'
            else 'active'
        end as status,
        charges.charges as recurrences,
        charges.paid_charges,
        charges.last_paid_charge_at,
        coalesce(plan_switches.plan_switches, 0) as plan_switches,
        charges.currency_code,
        -- monthly plans: the monthly recurring amount is the last paid charge
        cast(
            case when cancellations.cancelled_at is null then charges.last_paid_amount else 0 end
            as {{ type_money() }}
        ) as monthly_recurring_amount,
        cancellations.cancelled_at as churned_at
    from charges
    left join cancellations
        on
            charges.platform = cancellations.platform
            and charges.platform_subscription_id = cancellations.platform_subscription_id
    left join plan_switches
        on
            charges.platform = 'hotmart'
            and charges.platform_subscription_id = plan_switches.platform_subscription_id
)

select * from final
