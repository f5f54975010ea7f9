-- One gift-card movement: a Credit (refund voucher, with the refunded order and payment)
-- or a Debit (redeemed in a later order), with the card's balance after it.

with

transactions as (
    select * from {{ ref('stg_giftcards__transactions') }}
),

final as (
    select
        giftcard_transaction_id,
        card_id,
        operation,
        case when operation = 'Credit' then 'voucher_credit' else 'redemption' end
            as movement_type,
        amount,
        case when operation = 'Credit' then amount else -amount end as balance_effect,
        sum(case when operation = 'Credit' then amount else -amount end) over (
            partition by card_id order by occurred_at, giftcard_transaction_id
        ) as balance_after,
        occurred_at,
        order_id,
        payment_id,
        request_id,
        description
    from transactions
)

select * from final
