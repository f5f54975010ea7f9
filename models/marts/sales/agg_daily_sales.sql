-- Day × platform × product × payment method × currency: what the dashboards read.
-- Sales are dated by the order date; refunds and chargebacks by the order date too,
-- so a day's refund rate compares like with like.

-- Incremental by day: the days touched since the last build (an order day named by a
-- delivered event of a transaction computed again since: touched_days_since_build) are
-- forgotten (pre-hook) and computed again from all their transactions (read by
-- fct_transactions' order_date index); every other day stays.
-- The touched days are named only on an incremental build, which dbt does not see while
-- parsing: the relations they are read from are named here.
{{ depends_on_purchase_streams() }}
-- depends_on: {{ ref('int_transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['currency_code', 'order_date']}],
          pre_hook="{{ forget_touched_days() }}",
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

transactions as (
    select * from {{ ref('fct_transactions') }}
    where {{ of_days(touched_days_since_build(), 'order_date') }}
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
        -- sums of amounts: numeric(38, 2), wide enough for any number of rows
        cast(
            coalesce({{ sum_where('offer_price', 'has_been_approved') }}, 0)
            as {{ type_money_total() }}
        ) as gross_amount,
        cast(
            coalesce({{ sum_where('customer_paid_amount', 'has_been_approved') }}, 0)
            as {{ type_money_total() }}
        ) as customer_paid_amount,
        cast(
            coalesce({{ sum_where('platform_fee_amount', 'has_been_approved') }}, 0)
            as {{ type_money_total() }}
        ) as fee_amount,
        cast(
            coalesce({{ sum_where('partner_commission_amount', 'has_been_approved') }}, 0)
            as {{ type_money_total() }}
        ) as commission_amount,
        cast(
            coalesce({{ sum_where('producer_net_amount', 'has_been_approved') }}, 0)
            as {{ type_money_total() }}
        ) as net_amount,
        {{ count_where("refund_kind in ('refund', 'partial_refund')") }} as refunds,
        cast(
            coalesce(
                {{ sum_where('refunded_amount', "refund_kind in ('refund', 'partial_refund')") }},
                0
            ) as {{ type_money_total() }}
        ) as refunded_amount,
        {{ count_where("refund_kind = 'chargeback'") }} as chargebacks,
        cast(
            coalesce({{ sum_where('refunded_amount', "refund_kind = 'chargeback'") }}, 0)
            as {{ type_money_total() }}
        ) as chargeback_amount,
        {{ count_where('installments_number > 1 and has_been_approved') }}
            as installment_transactions
    from transactions
    group by order_date, platform, product_key, payment_method, currency_code
)

select * from final
