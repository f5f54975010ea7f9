-- Order month × platform × product × currency × refund kind, method and warranty: the
-- refund-rate page's breakdowns without a scan of the transactions.

with

refunds as (
    select * from {{ ref('fct_refunds') }}
),

transactions as (
    select
        transaction_key,
        product_key,
        order_date
    from {{ ref('fct_transactions') }}
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
