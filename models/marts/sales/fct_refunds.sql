-- One row per refund, partial refund or chargeback of a platform transaction. For the
-- own store's PIX refunds: the method taken (direct PIX devolution or gift-card voucher)
-- and, beside it, the option the refund policy recommends (docs/money.md).

-- Incremental by transaction: the refunds of the transactions computed again since the
-- last build, and of those a voucher credit loaded since names, are forgotten (pre-hook)
-- and computed again; every other row stays.
-- depends_on: {{ ref('stg_giftcards__transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}],
          pre_hook="{{ forget_touched_refunds() }}",
          post_hook="{{ record_raw_watermark([source('giftcards', 'giftcard_transactions')],
                                             built_from=[ref('int_transactions')]) }}") }}

with

{% if is_incremental() %}
    touched as (
        {{ touched_refunds_since_build() }}
    ),
{% endif %}

-- the refunded transactions (read twice below: only these rows are kept meanwhile)
transactions as (
    select touched_transactions.*
    from ({{ rows_of_touched(ref('int_transactions'), 'transaction_key') }})
        as touched_transactions
    where touched_transactions.refund_kind is not null
),

-- the ids of the transactions computed here, which the vouchers and splits are read by
refunded_ids as (
    select distinct platform_transaction_id
    from transactions
),

vouchers as (
    select
        order_id,
        sum(amount) as voucher_amount
    from {{ ref('fct_gift_card_ledger') }}
    where
        movement_type = 'voucher_credit'
        and order_id in (select refunded_ids.platform_transaction_id from refunded_ids)
    group by order_id
),

pix_orders as (
    select * from {{ ref('int_pix__orders_latest') }}
),

splits as (
    select
        platform_transaction_id as order_id,
        {{ dbt.bool_or('has_split') }} as has_split
    from {{ ref('stg_pix__payment_events') }}
    where
        platform_transaction_id in (select refunded_ids.platform_transaction_id from refunded_ids)
    group by platform_transaction_id
),

refunds as (
    select
        {{ dbt.hash("transactions.transaction_key || ':refund'") }} as refund_key,
        transactions.transaction_key,
        transactions.platform,
        transactions.platform_transaction_id,
        transactions.refund_kind as kind,
        case
            when transactions.refund_kind = 'chargeback' then 'chargeback'
            when vouchers.order_id is not null then 'gift_card_voucher'
            when transactions.platform = 'pix' then 'pix_devolution'
            else 'original_payment'
        end as method,
        -- docs/money.md, refund method: the split already settled (D+2) or the order
        -- delivered → voucher; shipped, not delivered → either; not shipped → direct
        -- devolution. The request time is not in the extracts: the settlement time stands
        -- for it.
        case
            when transactions.platform <> 'pix' then null
            when
                splits.has_split
                and transactions.refund_settled_at
                >= {{ dbt.dateadd('day', 2, 'transactions.approved_at') }}
                then 'gift_card_voucher'
            when transactions.refund_settled_at >= pix_orders.delivered_at
                then 'gift_card_voucher'
            when transactions.refund_settled_at >= pix_orders.shipped_at
                then 'gift_card_voucher_or_pix_devolution'
            else 'pix_devolution'
        end as recommended_method,
        transactions.refunded_amount as amount,
        transactions.currency_code,
        coalesce(transactions.disputed_at, transactions.refund_settled_at) as requested_at,
        transactions.refund_settled_at as settled_at,
        {{ business_date('transactions.refund_settled_at') }} as settled_date,
        transactions.refund_settled_at <= transactions.warranty_expires_at as within_warranty
    from transactions
    left join vouchers on transactions.platform_transaction_id = vouchers.order_id
    left join pix_orders
        on
            transactions.platform = 'pix'
            and transactions.platform_transaction_id = pix_orders.order_id
    left join splits
        on
            transactions.platform = 'pix'
            and transactions.platform_transaction_id = splits.order_id
    where transactions.refund_kind is not null
)

select * from refunds
