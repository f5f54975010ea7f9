-- distributable = offer − fee; producer net = distributable − partner commissions.

select
    transaction_key,
    offer_price,
    platform_fee_amount,
    distributable_amount,
    partner_commission_amount,
    producer_net_amount
from {{ ref('fct_transactions') }}
where
    distributable_amount <> offer_price - platform_fee_amount
    or producer_net_amount <> distributable_amount - partner_commission_amount
