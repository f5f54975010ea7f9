-- One gift-card movement: a Credit (refund voucher, with the refunded order and payment)
-- or a Debit (redeemed in a later order), with the card's balance after it.

with

transactions as (
    select * from {{ ref('stg_giftcards__transactions') }}
    where
        not is_superseded
        and giftcard_transaction_id is not null
        and card_id is not null
        and occurred_at is not null
),

final as (
    select
        giftcard_transaction_id,
        card_id,
        operation,
        case when operation = 'Credit' then 'voucher_credit' else 'redemption' end
            as movement_type,
        amount,
        cast(case when operation = 'Credit' then amount else -amount end as {{ type_money() }})
            as balance_effect,
        -- a running sum of the card's movements: numeric(38, 2)
        cast(
            sum(case when operation = 'Credit' then amount else -amount end) over (
                partition by card_id order by occurred_at, giftcard_transaction_id
            ) as {{ type_money_total() }}
        ) as balance_after,
        occurred_at,
        order_id,
        payment_id,
        request_id,
        description
    from transactions
)

select * from final
