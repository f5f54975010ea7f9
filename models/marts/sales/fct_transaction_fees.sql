-- A view: a projection of the incremental int_transactions, so a daily run
-- rebuilds nothing here (the table below recomputes only the touched transactions).
{{ config(materialized='view') }}

with

transactions as (
    select * from {{ ref('int_transactions') }}
),

fees as (
    select
        {{ dbt.hash("transaction_key || ':platform_fee'") }} as fee_key,
        transaction_key,
        platform,
        'platform_fee' as fee_type,
        -- a view: the contract's numeric(18, 2) is this cast
        cast(platform_fee_amount as {{ type_money() }}) as amount,
        currency_code
    from transactions
    where platform_fee_amount <> 0
)

select * from fees
