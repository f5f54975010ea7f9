-- Month × platform × plan × currency: subscriptions active at the start and end of the
-- month, started and churned in it, and the monthly recurring amount at its end.

{%- set month_end = dbt.dateadd('month', 1, 'months.month_start') | trim %}
{%- set active_at_start = "subscriptions.started_on < months.month_start
            and (
                subscriptions.churned_on is null
                or subscriptions.churned_on >= months.month_start
            )" %}
{%- set active_at_end = "subscriptions.started_on < " ~ month_end ~ "
            and (
                subscriptions.churned_on is null
                or subscriptions.churned_on >= " ~ month_end ~ "
            )" %}

with

subscriptions as (
    select
        *,
        -- months are business months: days counted in var('business_time_zone')
        {{ business_date('started_at') }} as started_on,
        {{ business_date('churned_at') }} as churned_on
    from {{ ref('dim_subscriptions') }}
    where started_at is not null
),

months as (
    select
        {{ month_series('min(started_on)',
                        'max(greatest(started_on, coalesce(churned_on, started_on)))') }}
            as month_start
    from subscriptions
),

final as (
    select
        months.month_start as month,
        subscriptions.platform,
        subscriptions.plan_name,
        subscriptions.currency_code,
        {{ count_where(active_at_start) }} as active_at_start,
        {{ count_where("subscriptions.started_on >= months.month_start
            and subscriptions.started_on < " ~ month_end) }} as started,
        {{ count_where("subscriptions.churned_on >= months.month_start
            and subscriptions.churned_on < " ~ month_end) }} as churned,
        {{ count_where(active_at_end) }} as active_at_end,
        cast(
            coalesce(
                {{ sum_where('subscriptions.monthly_recurring_amount', active_at_end) }}, 0
            ) as {{ type_money_total() }}
        ) as monthly_recurring_amount
    from months
    inner join subscriptions
        on
            {{ month_end }} > subscriptions.started_on
            and (subscriptions.churned_on is null or months.month_start <= subscriptions.churned_on)
    group by 1, 2, 3, 4
)

select * from final
