{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

with

source as materialized (
    {{ raw_payloads(source('hotmart', 'hotmart_webhooks')) }}
),

purchases as (
    select
        *,
        body -> 'data' as data,
        body -> 'data' -> 'purchase' as purchase
    from source
    where
        body ->> 'event' like 'PURCHASE\_%'
        and body ->> 'event' <> 'PURCHASE_OUT_OF_SHOPPING_CART'
),

renamed as (
    select
        encode(purchases._record_hash, 'hex') as record_hash,
        purchases._file_name as source_file,
        purchases._line_no as source_line,
        purchases._loaded_at,
        'hotmart' as platform,
        purchases.body ->> 'id' as source_event_id,
        purchases.body ->> 'event' as event_name,
        {{ epoch_ms_to_timestamp("purchases.body ->> 'creation_date'") }} as event_at,
        purchases.purchase ->> 'transaction' as platform_transaction_id,
        purchases.purchase ->> 'status' as raw_status,
        purchases.purchase -> 'payment' ->> 'type' as raw_payment_method,
        (purchases.purchase -> 'payment' ->> 'installments_number')::int
            as installments_number,
        purchases.purchase -> 'price' ->> 'currency_value' as currency_code,
        (purchases.purchase -> 'original_offer_price' ->> 'value')::numeric(18, 2)
            as base_price,
        (purchases.purchase -> 'price' ->> 'value')::numeric(18, 2) as offer_price,
        (purchases.purchase -> 'full_price' ->> 'value')::numeric(18, 2)
            as customer_paid_amount,
        {{ hotmart_commission_sum("purchases.data", "'MARKETPLACE'") }} as platform_fee_amount,
        {{ hotmart_commission_sum("purchases.data", "'COPRODUCER', 'ADDON'") }}
            as coproducer_commission_amount,
        {{ hotmart_commission_sum("purchases.data", "'AFFILIATE'") }}
            as affiliate_commission_amount,
        {{ hotmart_commission_sum("purchases.data", "'PRODUCER'") }} as reported_producer_amount,
        (
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', c ->> 'source', 'amount', (c ->> 'value')::numeric(18, 2),
                    'currency_code', c ->> 'currency_value', 'participant', c ->> 'source'
                ))
            from jsonb_array_elements(purchases.data -> 'commissions') as c
        ) as commission_lines,
        null::int as warranty_days,
        {{ epoch_ms_to_timestamp("purchases.purchase ->> 'order_date'") }} as ordered_at,
        {{ epoch_ms_to_timestamp("purchases.purchase ->> 'approved_date'") }} as approved_at,
        (purchases.data -> 'product' ->> 'warranty_date')::timestamptz as warranty_expires_at,
        lower(purchases.data -> 'buyer' ->> 'email') as customer_email,
        purchases.data -> 'buyer' ->> 'name' as customer_name,
        purchases.data -> 'buyer' ->> 'document' as customer_document,
        purchases.data -> 'product' ->> 'id' as platform_product_id,
        purchases.data -> 'product' ->> 'name' as product_name,
        null::text as product_sku,
        purchases.purchase -> 'offer' ->> 'code' as offer_code,
        purchases.purchase -> 'offer' ->> 'coupon_code' as coupon_code,
        purchases.data ? 'subscription' as is_subscription,
        purchases.data -> 'subscription' -> 'subscriber' ->> 'code'
            as platform_subscription_id,
        purchases.data -> 'subscription' -> 'plan' ->> 'id' as plan_id,
        purchases.data -> 'subscription' -> 'plan' ->> 'name' as plan_name,
        (purchases.purchase ->> 'recurrence_number')::int as recurrence_number,
        purchases.purchase -> 'origin' ->> 'src' as tracking_source,
        purchases.purchase -> 'origin' ->> 'sck' as tracking_sck,
        null::text as utm_source,
        null::text as utm_medium,
        null::text as utm_campaign,
        purchases.purchase -> 'payment' ->> 'refusal_reason' as refusal_reason
    from purchases
)

select * from renamed
