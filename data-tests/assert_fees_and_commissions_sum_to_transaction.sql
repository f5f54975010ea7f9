-- What the platform reported per participant adds up to the transaction's figures:
-- fees = platform_fee_amount, partner lines = partner_commission_amount and the
-- producer's line = producer_net_amount.
{{ config(severity='warn', store_failures=true) }}

with

transactions as (
    select * from {{ ref('fct_transactions') }}
),

fees as (
    select
        transaction_key,
        sum(amount) as fee_amount
    from {{ ref('fct_transaction_fees') }}
    group by transaction_key
),

commissions as (
    select
        transaction_key,
        coalesce(sum(amount) filter (where role in ('coproducer', 'affiliate')), 0)
            as partner_amount,
        coalesce(sum(amount) filter (where role = 'producer'), 0) as producer_amount
    from {{ ref('fct_commissions') }}
    group by transaction_key
)

select
    transactions.transaction_key,
    transactions.platform,
    transactions.platform_transaction_id,
    transactions.currency_code,
    transactions.platform_fee_amount,
    coalesce(fees.fee_amount, 0) as fee_lines,
    transactions.partner_commission_amount,
    coalesce(commissions.partner_amount, 0) as partner_lines,
    transactions.producer_net_amount,
    coalesce(commissions.producer_amount, 0) as producer_line
from transactions
left join fees on transactions.transaction_key = fees.transaction_key
left join commissions on transactions.transaction_key = commissions.transaction_key
where
    transactions.platform_fee_amount <> coalesce(fees.fee_amount, 0)
    or transactions.partner_commission_amount <> coalesce(commissions.partner_amount, 0)
    or transactions.producer_net_amount <> coalesce(commissions.producer_amount, 0)
