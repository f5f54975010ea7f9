-- Day × platform × product × payment method × currency: what the dashboards read.
-- Sales are dated by the order date; refunds and chargebacks by the order date too,
-- so a day's refund rate compares like with like.

{{ config(indexes=[{'columns': ['currency_code', 'order_date']}]) }}

with

transactions as (
    select * from {{ ref('fct_transactions') }}
),

final as (
    select
        order_date,
        platform,
        product_key,
        payment_method,
        currency_code,
        count(*) as transactions,
        {{ count_where('has_been_approved') }} as approved_transactions,
        coalesce({{ sum_where('offer_price', 'has_been_approved') }}, 0) as gross_amount,
        coalesce({{ sum_where('customer_paid_amount', 'has_been_approved') }}, 0)
            as customer_paid_amount,
        coalesce({{ sum_where('platform_fee_amount', 'has_been_approved') }}, 0)
            as fee_amount,
        coalesce({{ sum_where('partner_commission_amount', 'has_been_approved') }}, 0)
            as commission_amount,
        coalesce({{ sum_where('producer_net_amount', 'has_been_approved') }}, 0)
            as net_amount,
        {{ count_where("refund_kind in ('refund', 'partial_refund')") }} as refunds,
        coalesce(
            {{ sum_where('refunded_amount', "refund_kind in ('refund', 'partial_refund')") }}, 0
        ) as refunded_amount,
        {{ count_where("refund_kind = 'chargeback'") }} as chargebacks,
        coalesce({{ sum_where('refunded_amount', "refund_kind = 'chargeback'") }}, 0)
            as chargeback_amount,
        {{ count_where('installments_number > 1 and has_been_approved') }}
            as installment_transactions
    from transactions
    group by order_date, platform, product_key, payment_method, currency_code
)

select * from final
