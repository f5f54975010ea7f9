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
    select distinct on (subscription_key)
        subscription_key,
        offer_price as last_paid_amount
    from transactions
    where has_been_approved
    order by subscription_key asc, ordered_at desc
),

charges as (
    select
        transactions.subscription_key,
        transactions.platform,
        transactions.platform_subscription_id,
        min(transactions.ordered_at) as first_charge_at,
        max(transactions.ordered_at) filter (
            where transactions.has_been_approved
        ) as last_paid_charge_at,
        count(*) as charges,
        count(*) filter (where transactions.has_been_approved) as paid_charges,
        (array_agg(
            transactions.transaction_key
            order by transactions.ordered_at, transactions.transaction_key
        ))[1] as initial_transaction_key,
        (array_agg(
            transactions.plan_name
            order by transactions.ordered_at desc, transactions.transaction_key desc
        ))[1] as plan_name,
        (array_agg(
            transactions.plan_id
            order by transactions.ordered_at desc, transactions.transaction_key desc
        ))[1] as plan_id,
        (array_agg(
            transactions.customer_key
            order by transactions.ordered_at, transactions.transaction_key
        ))[1] as customer_key,
        (array_agg(
            transactions.currency_code
            order by transactions.ordered_at desc, transactions.transaction_key desc
        ))[1] as currency_code,
        max(last_paid.last_paid_amount) as last_paid_amount,
        bool_or(transactions.has_been_approved) as has_paid_charge
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
