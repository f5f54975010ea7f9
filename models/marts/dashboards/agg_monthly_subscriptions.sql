-- Month × platform × plan × currency: subscriptions active at the start and end of the
-- month, started and churned in it, and the monthly recurring amount at its end.

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
        generate_series(
            date_trunc('month', min(started_on)),
            date_trunc('month', max(greatest(started_on, coalesce(churned_on, started_on)))),
            interval '1 month'
        )::date as month_start
    from subscriptions
),

final as (
    select
        months.month_start as month,
        subscriptions.platform,
        subscriptions.plan_name,
        subscriptions.currency_code,
        count(*) filter (
            where subscriptions.started_on < months.month_start
            and (subscriptions.churned_on is null or subscriptions.churned_on >= months.month_start)
        ) as active_at_start,
        count(*) filter (
            where subscriptions.started_on >= months.month_start
            and subscriptions.started_on < months.month_start + interval '1 month'
        ) as started,
        count(*) filter (
            where subscriptions.churned_on >= months.month_start
            and subscriptions.churned_on < months.month_start + interval '1 month'
        ) as churned,
        count(*) filter (
            where subscriptions.started_on < months.month_start + interval '1 month'
            and (
                subscriptions.churned_on is null
                or subscriptions.churned_on >= months.month_start + interval '1 month'
            )
        ) as active_at_end,
        coalesce(sum(subscriptions.monthly_recurring_amount) filter (
            where subscriptions.started_on < months.month_start + interval '1 month'
            and (
                subscriptions.churned_on is null
                or subscriptions.churned_on >= months.month_start + interval '1 month'
            )
        ), 0) as monthly_recurring_amount
    from months
    inner join subscriptions
        on
            months.month_start + interval '1 month' > subscriptions.started_on
            and (subscriptions.churned_on is null or months.month_start <= subscriptions.churned_on)
    group by 1, 2, 3, 4
)

select * from final
