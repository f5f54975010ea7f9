-- The platforms' own totals against the marts (check platform_totals_match): where a sales
-- API publishes a summary (Hotmart and MyEduzz sales/summary, int_platform_totals: the
-- latest fetch of each period and status), the platform's count and value of the sales
-- ordered in that period, per status group and currency, must equal what the marts hold.
-- One row per difference, with the value at stake in that currency (money is never added
-- across currencies).
--
-- Like with like: the platforms filter their summaries by order (creation) date and by the
-- sale's status when the summary was fetched, so the marts' side is the transactions of
-- that platform whose order_date falls in the period, each in the status it had at the
-- period's latest summary fetch (fct_transaction_status_history), counted with their offer
-- price. Raw statuses are grouped through seeds/platform_status_mapping.csv as the marts
-- map them (Hotmart REFUNDED and CHARGEBACK are both `refunded`); a raw status no seed maps
-- is a group of its own that the marts never hold. Only status groups the platform
-- summarized for a period are compared. MyEduzz reports no count: its value alone is
-- compared. DECISIONS.md, 2026-12-03.

{{ config(materialized='table') }}

with

platform_totals as (
    select
        totals.platform,
        totals.period_first_day,
        totals.period_last_day,
        coalesce(mapping.status_code, 'unmapped ' || totals.raw_status) as status_group,
        totals.raw_status,
        totals.currency_code,
        totals.total_items,
        totals.total_value,
        totals.fetched_at
    from {{ ref('int_platform_totals') }} as totals
    left join {{ ref('platform_status_mapping') }} as mapping
        on
            totals.platform = mapping.platform
            and totals.raw_status = mapping.raw_status
),

periods as (
    -- each period once, with the instant its latest summary was fetched
    select
        platform,
        period_first_day,
        period_last_day,
        max(fetched_at) as as_of
    from platform_totals
    group by platform, period_first_day, period_last_day
),

groups as (
    -- the status groups the platform summarized for each period, and the raw statuses
    select
        platform,
        period_first_day,
        period_last_day,
        status_group,
        {{ text_agg('raw_status', "', '", order_by='raw_status', distinct=true) }}
            as raw_statuses
    from platform_totals
    group by platform, period_first_day, period_last_day, status_group
),

platform_side as (
    select
        platform,
        period_first_day,
        period_last_day,
        status_group,
        currency_code,
        sum(total_items) as total_items,
        sum(total_value) as total_value
    from platform_totals
    where currency_code is not null
    group by platform, period_first_day, period_last_day, status_group, currency_code
),

in_period as (
    select
        periods.platform,
        periods.period_first_day,
        periods.period_last_day,
        periods.as_of,
        transactions.transaction_key,
        transactions.currency_code,
        transactions.offer_price
    from periods
    inner join {{ ref('fct_transactions') }} as transactions
        on
            periods.platform = transactions.platform
            and transactions.order_date between periods.period_first_day
            and periods.period_last_day
),

status_changes as (
    select
        in_period.*,
        history.status,
        history.changed_at,
        history.change_number
    from in_period
    inner join {{ ref('fct_transaction_status_history') }} as history
        on
            in_period.transaction_key = history.transaction_key
            and in_period.as_of >= history.changed_at
),

-- each transaction in the status it had when the platform's summary was fetched
status_then as (
    {{ first_per_key('status_changes',
                     'platform, period_first_day, period_last_day, transaction_key',
                     order_by='changed_at desc, change_number desc') }}
),

marts_side as (
    select
        status_then.platform,
        status_then.period_first_day,
        status_then.period_last_day,
        status_then.status as status_group,
        status_then.currency_code,
        count(*) as total_items,
        sum(status_then.offer_price) as total_value
    from status_then
    inner join groups
        on
            status_then.platform = groups.platform
            and status_then.period_first_day = groups.period_first_day
            and status_then.period_last_day = groups.period_last_day
            and status_then.status = groups.status_group
    group by
        status_then.platform, status_then.period_first_day, status_then.period_last_day,
        status_then.status, status_then.currency_code
),

compared as (
    select
        coalesce(platform_side.platform, marts_side.platform) as platform,
        coalesce(platform_side.period_first_day, marts_side.period_first_day)
            as period_first_day,
        coalesce(platform_side.period_last_day, marts_side.period_last_day)
            as period_last_day,
        coalesce(platform_side.status_group, marts_side.status_group) as status_group,
        coalesce(platform_side.currency_code, marts_side.currency_code) as currency_code,
        case
            when platform_side.platform is not null then platform_side.total_items
            when marts_side.platform = 'hotmart' then 0
        end as expected_count,
        coalesce(marts_side.total_items, 0) as actual_count,
        coalesce(platform_side.total_value, 0) as expected_value,
        coalesce(marts_side.total_value, 0) as actual_value
    from platform_side
    full outer join marts_side
        on
            platform_side.platform = marts_side.platform
            and platform_side.period_first_day = marts_side.period_first_day
            and platform_side.period_last_day = marts_side.period_last_day
            and platform_side.status_group = marts_side.status_group
            and platform_side.currency_code = marts_side.currency_code
),

breaks as (
    select
        compared.*,
        groups.raw_statuses,
        periods.as_of
    from compared
    inner join groups
        on
            compared.platform = groups.platform
            and compared.period_first_day = groups.period_first_day
            and compared.period_last_day = groups.period_last_day
            and compared.status_group = groups.status_group
    inner join periods
        on
            compared.platform = periods.platform
            and compared.period_first_day = periods.period_first_day
            and compared.period_last_day = periods.period_last_day
    where
        compared.expected_value <> compared.actual_value
        or compared.expected_count <> compared.actual_count
)

select
    'platform_totals_match' as check_name,
    'platform_total_differs' as break_kind,
    'period' as entity_type,
    platform || ' ' || cast(period_first_day as {{ type_text() }}) || '..'
    || cast(period_last_day as {{ type_text() }}) || ' ' || status_group || ' '
    || currency_code as entity_id,
    platform,
    currency_code as unit,
    cast(expected_value as {{ type_money_total() }}) as expected,
    cast(actual_value as {{ type_money_total() }}) as actual,
    cast(abs(expected_value - actual_value) as {{ type_money_total() }}) as amount_at_stake,
    platform || ' sales/summary (' || raw_statuses || ', orders from '
    || cast(period_first_day as {{ type_text() }}) || ' to '
    || cast(period_last_day as {{ type_text() }}) || ', fetched '
    || {{ utc_text('as_of') }} || ') counts '
    || coalesce(cast(expected_count as {{ type_text() }}), 'no count of')
    || ' sales worth ' || cast(expected_value as {{ type_text() }}) || ' '
    || currency_code || '; the marts hold '
    || cast(actual_count as {{ type_text() }}) || ' worth '
    || cast(actual_value as {{ type_text() }}) || ' ' || currency_code
    || ' (' || status_group || ' at that time)' as detail,
    period_first_day,
    period_last_day,
    status_group,
    cast(expected_count as {{ type_bigint() }}) as expected_count,
    cast(actual_count as {{ type_bigint() }}) as actual_count
from breaks
