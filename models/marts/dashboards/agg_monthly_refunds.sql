-- Order month × platform × product × currency × refund kind, method and warranty: the
-- refund-rate page's breakdowns without a scan of the transactions.

-- Incremental by month: the months of the days touched since the last build and the
-- order months of the transactions a voucher credit loaded since names (a refund's method)
-- are forgotten (pre-hook) and computed again from all their transactions (read by
-- fct_transactions' order_date index); every other month stays.
{{ depends_on_purchase_streams() }}
-- depends_on: {{ ref('int_transactions') }}
-- depends_on: {{ ref('stg_giftcards__transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_touched_months(with_vouchers=true) }}",
          post_hook="{{ record_raw_watermark([source('giftcards', 'giftcard_transactions')],
                                             built_from=[ref('int_transactions')]) }}") }}

with

transactions as (
    select
        transaction_key,
        product_key,
        order_date
    from {{ ref('fct_transactions') }}
    where {{ of_months(touched_months_since_build(with_vouchers=true), 'order_date',
                       by_day=true) }}
),

refunds as (
    select * from {{ ref('fct_refunds') }}
    where transaction_key in (select transactions.transaction_key from transactions)
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'transactions.order_date') }} as {{ type_date() }})
            as order_month,
        refunds.platform,
        transactions.product_key,
        refunds.currency_code,
        refunds.kind,
        refunds.method,
        refunds.within_warranty,
        count(*) as refunds,
        cast(sum(refunds.amount) as {{ type_money_total() }}) as refunded_amount
    from refunds
    inner join transactions on refunds.transaction_key = transactions.transaction_key
    group by 1, 2, 3, 4, 5, 6, 7
)

select * from final
