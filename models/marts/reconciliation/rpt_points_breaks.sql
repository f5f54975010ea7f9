-- Invariant 5 (points): every confirm or cancel matches one open authorization,
-- confirmed ≤ authorized, no balance below zero, a completed redemption order's points =
-- its items' points = its confirmed debit. One row per break; empty when the books agree.

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
        0::numeric as expected,
        ledger.points::numeric as actual
    from ledger
    left join authorizations on ledger.authorization_id = authorizations.authorization_id
    where ledger.entry_type in ('confirm', 'cancel') and authorizations.authorization_id is null
),

double_confirms as (
    select
        'double_confirm' as check_name,
        account_id,
        authorization_id as entity_id,
        authorized_points::numeric as expected,
        confirmed_points::numeric as actual
    from authorizations
    where confirms > 1
),

over_confirmed as (
    select
        'confirm_above_hold' as check_name,
        account_id,
        authorization_id as entity_id,
        authorized_points::numeric as expected,
        confirmed_points::numeric as actual
    from authorizations
    where confirms = 1 and confirmed_points > authorized_points
),

-- both resolutions of one hold: named by which came second
confirmed_and_cancelled as (
    select
        case
            when confirmed_at > cancelled_at then 'confirm_after_cancel'
            else 'cancel_after_confirm'
        end as check_name,
        account_id,
        authorization_id as entity_id,
        0::numeric as expected,
        case
            when confirmed_at > cancelled_at then confirmed_points
            else cancelled_points
        end::numeric as actual
    from authorizations
    where confirms > 0 and cancels > 0
),

negative_balances as (
    select
        'negative_points_balance' as check_name,
        account_id,
        account_id as entity_id,
        0::numeric as expected,
        lowest_balance_points::numeric as actual
    from accounts
    where lowest_balance_points < 0
),

order_points as (
    select
        'order_points_mismatch' as check_name,
        account_id,
        order_number as entity_id,
        items_points::numeric as expected,
        total_points::numeric as actual
    from orders
    where
        order_status = 'COMPLETED'
        and (total_points <> items_points or total_points <> confirmed_debit_points)
),

breaks as (
    select * from orphan_resolutions
    union all
    select * from double_confirms
    union all
    select * from over_confirmed
    union all
    select * from confirmed_and_cancelled
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
    actual - expected as difference
from breaks
