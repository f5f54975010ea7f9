-- One gift card with what was credited, redeemed and is left.

with

cards as (
    select * from {{ ref('stg_giftcards__cards') }}
    where not is_superseded and card_id is not null
),

ledger as (
    select
        card_id,
        coalesce({{ sum_where('amount', "operation = 'Credit'") }}, 0) as credited_amount,
        coalesce({{ sum_where('amount', "operation = 'Debit'") }}, 0) as redeemed_amount,
        {{ count_where("operation = 'Credit'") }} as voucher_credits,
        {{ count_where("operation = 'Debit'") }} as redemptions,
        min(balance_after) as lowest_balance_amount
    from {{ ref('fct_gift_card_ledger') }}
    group by card_id
)

select
    cards.card_id,
    cards.redemption_code,
    {{ person_key('cards.customer_email') }} as customer_key,
    cards.currency_code,
    cards.issued_at,
    cards.expires_at,
    -- sums of the card's movements: numeric(38, 2)
    cast(coalesce(ledger.credited_amount, 0) as {{ type_money_total() }}) as credited_amount,
    cast(coalesce(ledger.redeemed_amount, 0) as {{ type_money_total() }}) as redeemed_amount,
    cast(
        coalesce(ledger.credited_amount, 0) - coalesce(ledger.redeemed_amount, 0)
        as {{ type_money_total() }}
    ) as balance_amount,
    coalesce(ledger.voucher_credits, 0) as voucher_credits,
    coalesce(ledger.redemptions, 0) as redemptions,
    cast(ledger.lowest_balance_amount as {{ type_money_total() }}) as lowest_balance_amount
from cards
left join ledger on cards.card_id = ledger.card_id
