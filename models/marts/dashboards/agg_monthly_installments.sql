-- Order month × platform × product × payment method × currency × installments, approved
-- transactions only: the payment-methods page's installment figures.

-- Incremental by month: the months of the days touched since the last build
-- (touched_months_since_build) are forgotten (pre-hook) and computed again from all their
-- transactions (read by fct_transactions' order_date index); every other month stays.
{{ depends_on_purchase_streams() }}
-- depends_on: {{ ref('int_transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_touched_months() }}",
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

transactions as (
    select * from {{ ref('fct_transactions') }}
    where
        has_been_approved
        and {{ of_months(touched_months_since_build(), 'order_date', by_day=true) }}
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as {{ type_date() }}) as order_month,
        platform,
        product_key,
        payment_method,
        currency_code,
        coalesce(installments_number, 1) as installments_number,
        count(*) as approved_transactions,
        cast(sum(offer_price) as {{ type_money_total() }}) as gross_amount
    from transactions
    group by 1, 2, 3, 4, 5, 6
)

select * from final
