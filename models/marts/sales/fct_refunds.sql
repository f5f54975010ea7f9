-- One row per refund, partial refund or chargeback of a platform transaction.

with

transactions as (
    select * from {{ ref('int_transactions') }}
),

refunds as (
    select
        md5(transactions.transaction_key || ':refund') as refund_key,
        transactions.transaction_key,
        transactions.platform,
        transactions.platform_transaction_id,
        transactions.refund_kind as kind,
        case
            when transactions.refund_kind = 'chargeback' then 'chargeback'
            when transactions.platform = 'pix' then 'pix_devolution'
            else 'original_payment'
        end as method,
        transactions.refunded_amount as amount,
        transactions.currency_code,
        coalesce(transactions.disputed_at, transactions.refund_settled_at) as requested_at,
        transactions.refund_settled_at as settled_at,
        transactions.refund_settled_at <= transactions.warranty_expires_at as within_warranty
    from transactions
    where transactions.refund_kind is not null
)

select * from refunds
