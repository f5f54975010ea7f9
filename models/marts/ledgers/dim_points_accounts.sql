-- One points account: balance = credits − confirmed debits, open holds, and the lowest
-- balance it ever had (never below zero when the books are right).

with

ledger as (
    select * from {{ ref('fct_points_ledger') }}
),

authorizations as (
    select * from {{ ref('fct_points_authorizations') }}
),

running as (
    select
        account_id,
        sum(balance_effect) over (
            partition by account_id order by occurred_at, entry_key
        ) as balance_after
    from ledger
),

lowest as (
    select
        account_id,
        min(balance_after) as lowest_balance
    from running
    group by account_id
),

totals as (
    select
        account_id,
        coalesce({{ sum_where('points', "entry_type = 'credit'") }}, 0) as credited_points,
        coalesce({{ sum_where('points', "entry_type = 'confirm'") }}, 0) as debited_points,
        coalesce({{ sum_where('points', "entry_type = 'expire'") }}, 0) as expired_points,
        sum(balance_effect) as balance_points,
        min(occurred_at) as first_entry_at,
        max(occurred_at) as last_entry_at
    from ledger
    group by account_id
),

holds as (
    select
        account_id,
        coalesce(sum(authorized_points), 0) as open_hold_points
    from authorizations
    where outcome = 'open'
    group by account_id
),

final as (
    select
        totals.account_id,
        -- points and their sums: whole numbers, numeric(38, 0)
        cast(totals.credited_points as {{ type_points() }}) as credited_points,
        cast(totals.debited_points as {{ type_points() }}) as debited_points,
        cast(totals.expired_points as {{ type_points() }}) as expired_points,
        cast(totals.balance_points as {{ type_points() }}) as balance_points,
        cast(coalesce(holds.open_hold_points, 0) as {{ type_points() }}) as open_hold_points,
        cast(
            totals.balance_points - coalesce(holds.open_hold_points, 0) as {{ type_points() }}
        ) as available_points,
        cast(lowest.lowest_balance as {{ type_points() }}) as lowest_balance_points,
        totals.first_entry_at,
        totals.last_entry_at
    from totals
    left join holds on totals.account_id = holds.account_id
    left join lowest on totals.account_id = lowest.account_id
)

select * from final
