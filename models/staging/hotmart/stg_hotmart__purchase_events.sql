{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(source('hotmart', 'hotmart_webhooks')) }}
),

purchases as (
    select
        *,
        {{ json_object("body -> 'data'", 'data', issues) }} as data,
        {{ json_object("body -> 'data' -> 'purchase'", 'data.purchase', issues) }} as purchase,
        {{ json_object("body -> 'data' -> 'buyer'", 'data.buyer', issues) }} as buyer,
        {{ json_object("body -> 'data' -> 'product'", 'data.product', issues) }} as product,
        {{ json_object("body -> 'data' -> 'subscription'", 'data.subscription', issues) }}
            as subscription,
        {{ json_array("body -> 'data' -> 'commissions'", 'data.commissions', issues) }}
            as commissions
    from source
    where
        body ->> 'event' like 'PURCHASE\_%'
        and body ->> 'event' <> 'PURCHASE_OUT_OF_SHOPPING_CART'
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        'hotmart' as platform,
        coalesce(
            {{ expected("body ->> 'id'", 'id', issues) }},
            'record:' || encode(_record_hash, 'hex')
        ) as source_event_id,
        body ->> 'event' as event_name,
        {{ required(epoch_ms("body ->> 'creation_date'", 'creation_date', issues),
                    'creation_date', issues, raw="body ->> 'creation_date'") }} as event_at,
        {{ required("purchase ->> 'transaction'", 'data.purchase.transaction', issues) }}
            as platform_transaction_id,
        {{ expected("purchase ->> 'status'", 'data.purchase.status', issues) }} as raw_status,
        purchase -> 'payment' ->> 'type' as raw_payment_method,
        {{ integer("purchase -> 'payment' ->> 'installments_number'",
                   'data.purchase.payment.installments_number', issues) }}
            as installments_number,
        {{ expected("purchase -> 'price' ->> 'currency_value'",
                    'data.purchase.price.currency_value', issues) }} as currency_code,
        {{ money("purchase -> 'original_offer_price' ->> 'value'",
                 'data.purchase.original_offer_price.value', issues) }} as base_price,
        {{ expected(
            money("purchase -> 'price' ->> 'value'", 'data.purchase.price.value', issues),
            'data.purchase.price.value', issues,
            raw="nullif(purchase -> 'price' ->> 'value', '')"
        ) }} as offer_price,
        {{ money("purchase -> 'full_price' ->> 'value'", 'data.purchase.full_price.value',
                 issues) }} as customer_paid_amount,
        {%- do check_elements('commissions', 'value', 'numeric(18, 2)',
                              'data.commissions[].value', issues) %}
        {{ hotmart_commission_sum('commissions', "'MARKETPLACE'") }} as platform_fee_amount,
        {{ hotmart_commission_sum('commissions', "'COPRODUCER', 'ADDON'") }}
            as coproducer_commission_amount,
        {{ hotmart_commission_sum('commissions', "'AFFILIATE'") }}
            as affiliate_commission_amount,
        {{ hotmart_commission_sum('commissions', "'PRODUCER'") }} as reported_producer_amount,
        (
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', c ->> 'source',
                    'amount', {{ safe_cast("c ->> 'value'", 'numeric(18, 2)') }},
                    'currency_code', c ->> 'currency_value', 'participant', c ->> 'source'
                ))
            from {{ json_array_elements('commissions') }} as c
        ) as commission_lines,
        null::int as warranty_days,
        {{ epoch_ms("purchase ->> 'order_date'", 'data.purchase.order_date', issues) }}
            as ordered_at,
        {{ epoch_ms("purchase ->> 'approved_date'", 'data.purchase.approved_date', issues) }}
            as approved_at,
        {{ timestamp("product ->> 'warranty_date'", 'data.product.warranty_date', issues) }}
            as warranty_expires_at,
        lower(buyer ->> 'email') as customer_email,
        buyer ->> 'name' as customer_name,
        buyer ->> 'document' as customer_document,
        product ->> 'id' as platform_product_id,
        product ->> 'name' as product_name,
        null::text as product_sku,
        purchase -> 'offer' ->> 'code' as offer_code,
        purchase -> 'offer' ->> 'coupon_code' as coupon_code,
        coalesce(data ? 'subscription', false) as is_subscription,
        subscription -> 'subscriber' ->> 'code' as platform_subscription_id,
        subscription -> 'plan' ->> 'id' as plan_id,
        subscription -> 'plan' ->> 'name' as plan_name,
        {{ integer("purchase ->> 'recurrence_number'", 'data.purchase.recurrence_number',
                   issues) }} as recurrence_number,
        purchase -> 'origin' ->> 'src' as tracking_source,
        purchase -> 'origin' ->> 'sck' as tracking_sck,
        null::text as utm_source,
        null::text as utm_medium,
        null::text as utm_campaign,
        purchase -> 'payment' ->> 'refusal_reason' as refusal_reason,
        {{ data_issues_column(issues) }} as data_issues
    from purchases
)

select * from renamed
