{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

-- Hotmart sales API (GET /payments/api/v1/sales/history, `tallyhouse backfill`): one row
-- per record, a snapshot of the sale when its page was fetched. The event time is that
-- fetch time (the page file's name), so a snapshot never goes ahead of a webhook event
-- that happened later; the key is purchase.transaction, as in the webhooks, so a sale
-- known from both is one transaction. The API spells some fields differently from the
-- webhooks (price.currency_code, recurrency_number, warranty_expire_date, tracking); the
-- fee is purchase.hotmart_fee.total. The commissions come from the commissions endpoint
-- (stg_hotmart__sales_commissions), joined in int_hotmart__api_purchase_events.

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('hotmart', 'hotmart_sales_history')) }}
),

sales as (
    select
        *,
        {{ json_object(json_get('body', 'purchase'), 'purchase', issues) }} as purchase,
        {{ json_object(json_get('body', 'buyer'), 'buyer', issues) }} as buyer,
        {{ json_object(json_get('body', 'product'), 'product', issues) }} as product
    from source
    where {{ reader_records(model.name, 'body') }}
),

renamed as (
    select
        {{ record_lineage() }},
        'hotmart' as platform,
        -- each version of a sale the API returned is one snapshot (the loaders land a
        -- record fetched again unchanged once)
        'sales_history:' || {{ bytes_to_hex('_record_hash') }} as source_event_id,
        'sales_history' as event_name,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as event_at,
        {{ required("nullif(" ~ json_text('purchase', 'transaction') ~ ", '')",
                    'purchase.transaction', issues) }} as platform_transaction_id,
        {{ expected("nullif(" ~ json_text('purchase', 'status') ~ ", '')", 'purchase.status',
                    issues) }} as raw_status,
        {{ json_text('purchase', 'payment', 'type') }} as raw_payment_method,
        {{ integer(json_text('purchase', 'payment', 'installments_number'),
                   'purchase.payment.installments_number', issues) }} as installments_number,
        {{ expected(json_text('purchase', 'price', 'currency_code'),
                    'purchase.price.currency_code', issues) }} as currency_code,
        {{ expected(
            money(json_text('purchase', 'price', 'value'), 'purchase.price.value', issues),
            'purchase.price.value', issues,
            raw="nullif(" ~ json_text('purchase', 'price', 'value') ~ ", '')"
        ) }} as offer_price,
        {{ expected(
            money(json_text('purchase', 'hotmart_fee', 'total'), 'purchase.hotmart_fee.total',
                  issues),
            'purchase.hotmart_fee.total', issues,
            raw="nullif(" ~ json_text('purchase', 'hotmart_fee', 'total') ~ ", '')"
        ) }} as platform_fee_amount,
        {{ json_text('purchase', 'hotmart_fee', 'currency_code') }} as fee_currency_code,
        cast(null as {{ type_int() }}) as warranty_days,
        {%- set ordered = epoch_ms(json_text('purchase', 'order_date'), 'purchase.order_date',
                                   issues) %}
        {%- set approved = epoch_ms(json_text('purchase', 'approved_date'),
                                    'purchase.approved_date', issues) %}
        {%- do approved_after_order(ordered, approved, 'purchase.approved_date', issues) %}
        {{ plausible_time(ordered, 'hotmart', 'purchase.order_date', issues) }} as ordered_at,
        {{ plausible_time(approved, 'hotmart', 'purchase.approved_date', issues) }}
            as approved_at,
        {{ epoch_ms(json_text('purchase', 'warranty_expire_date'),
                    'purchase.warranty_expire_date', issues) }} as warranty_expires_at,
        lower({{ json_text('buyer', 'email') }}) as customer_email,
        {{ json_text('buyer', 'name') }} as customer_name,
        {{ json_text('buyer', 'document') }} as customer_document,
        {{ json_text('product', 'id') }} as platform_product_id,
        {{ json_text('product', 'name') }} as product_name,
        cast(null as {{ type_text() }}) as product_sku,
        {{ json_text('purchase', 'offer', 'code') }} as offer_code,
        cast(null as {{ type_text() }}) as coupon_code,
        coalesce({{ boolean(json_text('purchase', 'is_subscription'),
                            'purchase.is_subscription', issues) }}, false) as is_subscription,
        cast(null as {{ type_text() }}) as platform_subscription_id,
        cast(null as {{ type_text() }}) as plan_id,
        cast(null as {{ type_text() }}) as plan_name,
        {{ integer(json_text('purchase', 'recurrency_number'), 'purchase.recurrency_number',
                   issues) }} as recurrence_number,
        {{ json_text('purchase', 'tracking', 'source') }} as tracking_source,
        {{ json_text('purchase', 'tracking', 'source_sck') }} as tracking_sck,
        cast(null as {{ type_text() }}) as utm_source,
        cast(null as {{ type_text() }}) as utm_medium,
        cast(null as {{ type_text() }}) as utm_campaign,
        cast(null as {{ type_text() }}) as refusal_reason,
        -- the history says the sale was refunded, not how much
        cast(null as {{ type_money() }}) as refund_amount,
        {{ data_issues_column(issues) }} as data_issues
    from sales
)

select * from renamed
