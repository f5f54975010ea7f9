-- Order month × platform × product × payment method × currency × installments, approved
-- transactions only: the payment-methods page's installment figures.

with

transactions as (
    select * from {{ ref('fct_transactions') }}
    where has_been_approved
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
