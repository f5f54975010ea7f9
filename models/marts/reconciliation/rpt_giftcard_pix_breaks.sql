-- Invariant 6 (gift cards and PIX): a voucher refund equals the refunded payment; a
-- refunded PIX payment reports status 11 exactly once; no card balance below zero; the
-- split base is the order total minus its gift-card payments.
-- One row per break; empty when the books agree.

with

ledger as (
    select * from {{ ref('fct_gift_card_ledger') }}
),

cards as (
    select * from {{ ref('fct_gift_cards') }}
),

payments as (
    select * from {{ ref('stg_pix__payment_events') }}
),

orders as (
    select * from {{ ref('int_pix__orders_latest') }}
),

refunded_payments as (
    select
        payment_id,
        min(platform_transaction_id) as order_id,
        max(pix_amount) as refunded_amount,
        count(distinct source_event_id) as refund_reports
    from payments
    where raw_status = '11'
    group by payment_id
),

voucher_mismatches as (
    select
        'voucher_differs_from_refund' as check_name,
        ledger.order_id as entity_id,
        ledger.payment_id,
        refunded_payments.refunded_amount as expected,
        ledger.amount as actual
    from ledger
    left join refunded_payments on ledger.payment_id = refunded_payments.payment_id
    where
        ledger.movement_type = 'voucher_credit'
        and ledger.amount is distinct from refunded_payments.refunded_amount
        -- the gateway's status 11 may still be on its way: a voucher without it is a
        -- break once it is three days old
        and (
            refunded_payments.payment_id is not null
            or ledger.occurred_at
            < {{ dbt.dateadd('day', -3, '(select max(l.occurred_at) from ledger as l)') }}
        )
),

-- several vouchers for one payment, together above what was refunded (each may equal it)
vouchers_above_refund as (
    select
        'voucher_above_refund' as check_name,
        min(ledger.order_id) as entity_id,
        ledger.payment_id,
        min(refunded_payments.refunded_amount) as expected,
        sum(ledger.amount) as actual
    from ledger
    inner join refunded_payments on ledger.payment_id = refunded_payments.payment_id
    where ledger.movement_type = 'voucher_credit'
    group by ledger.payment_id
    having count(*) > 1 and sum(ledger.amount) > min(refunded_payments.refunded_amount)
),

refunded_twice as (
    select
        'pix_refunded_twice' as check_name,
        order_id as entity_id,
        payment_id,
        cast(1 as {{ type_money_total() }}) as expected,
        cast(refund_reports as {{ type_money_total() }}) as actual
    from refunded_payments
    where refund_reports > 1
),

negative_cards as (
    select
        'giftcard_negative_balance' as check_name,
        card_id as entity_id,
        cast(null as {{ type_text() }}) as payment_id,
        cast(0 as {{ type_money_total() }}) as expected,
        lowest_balance_amount as actual
    from cards
    where lowest_balance_amount < 0
),

split_base_differences as (
    select
        'split_base_includes_giftcard' as check_name,
        payments.platform_transaction_id as entity_id,
        payments.payment_id,
        orders.order_total_amount - orders.giftcard_amount as expected,
        payments.split_base_amount as actual
    from payments
    inner join orders on payments.platform_transaction_id = orders.order_id
    where
        payments.has_split
        and payments.split_base_amount <> orders.order_total_amount - orders.giftcard_amount
),

-- one break per payment (its events repeat the split)
split_bases as (
    {{ first_per_key('split_base_differences', 'payment_id') }}
),

breaks as (
    select * from voucher_mismatches
    union all
    select * from vouchers_above_refund
    union all
    select * from refunded_twice
    union all
    select * from negative_cards
    union all
    select * from split_bases
)

select
    -- unique whatever the data: two vouchers may name the same order, an id may be missing
    {{ surrogate_key([
        'check_name', 'entity_id',
        'row_number() over (partition by check_name, entity_id order by expected, actual)'
    ]) }} as break_key,
    check_name,
    'BRL' as currency_code,
    entity_id,
    payment_id,
    -- amounts, sums of them and counts of reports: numeric(38, 2), like every
    -- reconciliation report
    cast(expected as {{ type_money_total() }}) as expected,
    cast(actual as {{ type_money_total() }}) as actual,
    cast(actual - expected as {{ type_money_total() }}) as difference
from breaks
