-- One subscription: its plan, customer, status, start, cancellation and recurrences.

with

transactions as (
    select * from {{ ref('fct_transactions') }}
    where subscription_key is not null
),

hotmart_events as (
    select * from {{ ref('stg_hotmart__subscription_events') }}
),

kiwify_cancellations as (
    select
        platform_subscription_id,
        min(event_at) as cancelled_at
    from {{ ref('stg_kiwify__order_events') }}
    where event_name = 'subscription_canceled'
    group by platform_subscription_id
),

eduzz_cancellations as (
    select
        platform_subscription_id,
        min(cancelled_at) as cancelled_at
    from {{ ref('stg_eduzz__contract_events') }}
    group by platform_subscription_id
),

cancellations as (
    select 'hotmart' as platform, platform_subscription_id, min(cancelled_at) as cancelled_at
    from hotmart_events
    where event_name = 'SUBSCRIPTION_CANCELLATION'
    group by platform_subscription_id
    union all
    select 'kiwify', platform_subscription_id, cancelled_at from kiwify_cancellations
    union all
    select 'eduzz', platform_subscription_id, cancelled_at from eduzz_cancellations
),

plan_switches as (
    select platform_subscription_id, count(*) as plan_switches
    from hotmart_events
    where event_name = 'SWITCH_PLAN'
    group by platform_subscription_id
),

charges as (
    select
        subscription_key,
        platform,
        platform_subscription_id,
        min(ordered_at) as first_charge_at,
        max(ordered_at) filter (where has_been_approved) as last_paid_charge_at,
        count(*) as charges,
        count(*) filter (where has_been_approved) as paid_charges,
        (array_agg(transaction_key order by ordered_at))[1] as initial_transaction_key,
        (array_agg(plan_name order by ordered_at desc))[1] as plan_name,
        (array_agg(plan_id order by ordered_at desc))[1] as plan_id,
        (array_agg(customer_key order by ordered_at))[1] as customer_key,
        (array_agg(currency_code order by ordered_at desc))[1] as currency_code,
        (array_agg(offer_price order by ordered_at desc)
            filter (where has_been_approved))[1] as last_paid_amount,
        bool_or(has_been_approved and ordered_at = ordered_at) as has_paid_charge
    from transactions
    group by subscription_key, platform, platform_subscription_id
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
        case when cancellations.cancelled_at is null then charges.last_paid_amount else 0 end
            ::numeric(18, 2) as monthly_recurring_amount,
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
