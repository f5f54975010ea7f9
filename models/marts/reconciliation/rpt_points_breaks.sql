-- Invariant 5 (points): every confirm or cancel matches one open authorization,
-- confirmed ≤ authorized, no balance below zero, a completed redemption order's points =
-- its items' points = its confirmed debit. One row per break; empty when the books agree.
-- A hold's confirms and cancels are named in the order they happened (event time), not
-- in the order they were delivered.

with

ledger as (
    select * from {{ ref('fct_points_ledger') }}
),

authorizations as (
    select * from {{ ref('fct_points_authorizations') }}
),

accounts as (
    select * from {{ ref('dim_points_accounts') }}
),

orders as (
    select * from {{ ref('fct_redemption_orders') }}
),

orphan_resolutions as (
    select
        case
            when ledger.entry_type = 'confirm' then 'confirm_without_authorization'
            else 'cancel_without_authorization'
        end as check_name,
        ledger.account_id,
        coalesce(
            ledger.authorization_id, '(no authorization id) entry ' || ledger.entry_key
        ) as entity_id,
        cast(0 as {{ type_points() }}) as expected,
        cast(ledger.points as {{ type_points() }}) as actual
    from ledger
    left join authorizations on ledger.authorization_id = authorizations.authorization_id
    where ledger.entry_type in ('confirm', 'cancel') and authorizations.authorization_id is null
),

-- every confirm and cancel of a hold, in the order the events happened (event time; a
-- confirm and a cancel at the same instant: the confirm first), with what came just before
resolutions as (
    select
        authorizations.authorization_id,
        authorizations.account_id,
        authorizations.authorized_points,
        ledger.entry_type,
        ledger.points,
        lag(ledger.entry_type) over by_event_time as resolved_before,
        row_number() over (
            partition by ledger.authorization_id, ledger.entry_type
            order by ledger.occurred_at, ledger.points, ledger.entry_key
        ) as nth_of_its_type
    from ledger
    inner join authorizations on ledger.authorization_id = authorizations.authorization_id
    where ledger.entry_type in ('confirm', 'cancel')
    window by_event_time as (
        partition by ledger.authorization_id
        order by
            ledger.occurred_at asc, ledger.entry_type desc, ledger.points asc,
            ledger.entry_key asc
    )
),

-- each resolution named by what went wrong when it happened: the first one resolves the
-- hold (wrong only as a confirm above it); after a confirm, a second confirm or a cancel;
-- after a cancel, a confirm
named as (
    select
        authorization_id,
        account_id,
        authorized_points,
        points,
        {{ max_where('points', "entry_type = 'confirm' and nth_of_its_type = 1") }}
            over (partition by authorization_id) as first_confirmed_points,
        case
            when
                entry_type = 'confirm' and resolved_before is null
                and points > authorized_points
                then 'confirm_above_hold'
            when entry_type = 'confirm' and resolved_before = 'confirm' then 'double_confirm'
            when entry_type = 'confirm' and resolved_before = 'cancel'
                then 'confirm_after_cancel'
            when entry_type = 'cancel' and resolved_before = 'confirm'
                then 'cancel_after_confirm'
        end as check_name
    from resolutions
),

-- one break per hold and kind: a confirm above the hold (hold vs confirmed), a double
-- confirm (the first confirm vs all the confirms after it), a resolution after the other
-- one (nothing vs its points)
lifecycle as (
    select
        check_name,
        min(account_id) as account_id,
        authorization_id as entity_id,
        cast(case check_name
            when 'confirm_above_hold' then min(authorized_points)
            when 'double_confirm' then min(first_confirmed_points)
            else 0
        end as {{ type_points() }}) as expected,
        cast(
            case when check_name = 'double_confirm' then min(first_confirmed_points) else 0 end
            + sum(points)
            as {{ type_points() }}
        ) as actual
    from named
    where check_name is not null
    group by authorization_id, check_name
),

negative_balances as (
    select
        'negative_points_balance' as check_name,
        account_id,
        account_id as entity_id,
        cast(0 as {{ type_points() }}) as expected,
        cast(lowest_balance_points as {{ type_points() }}) as actual
    from accounts
    where lowest_balance_points < 0
),

order_points as (
    select
        'order_points_mismatch' as check_name,
        account_id,
        order_number as entity_id,
        cast(items_points as {{ type_points() }}) as expected,
        cast(total_points as {{ type_points() }}) as actual
    from orders
    where
        order_status = 'COMPLETED'
        and (total_points <> items_points or total_points <> confirmed_debit_points)
),

breaks as (
    select * from orphan_resolutions
    union all
    select * from lifecycle
    union all
    select * from negative_balances
    union all
    select * from order_points
)

select
    {{ surrogate_key([
        'check_name', 'entity_id',
        'row_number() over (partition by check_name, entity_id order by expected, actual)'
    ]) }} as break_key,
    check_name,
    'points' as unit,
    account_id,
    entity_id,
    expected,
    actual,
    cast(actual - expected as {{ type_points() }}) as difference
from breaks
