{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

with

source as materialized (
    {{ raw_payloads(source('kiwify', 'kiwify_webhooks')) }}
),

orders as (
    select
        *,
        body -> 'Commissions' as money,
        body -> 'TrackingParameters' as tracking
    from source
    where jsonb_typeof(body) = 'object' and body ? 'order_id'
),

renamed as (
    select
        encode(orders._record_hash, 'hex') as record_hash,
        orders._file_name as source_file,
        orders._line_no as source_line,
        orders._loaded_at,
        'kiwify' as platform,
        orders.body ->> 'order_id' || ':' || (orders.body ->> 'webhook_event_type') || ':'
        || (orders.body ->> 'updated_at') as source_event_id,
        orders.body ->> 'webhook_event_type' as event_name,
        {{ brt_to_timestamp("orders.body ->> 'updated_at'") }} as event_at,
        orders.body ->> 'order_id' as platform_transaction_id,
        orders.body ->> 'order_status' as raw_status,
        orders.body ->> 'payment_method' as raw_payment_method,
        coalesce((orders.body ->> 'installments')::int, 1) as installments_number,
        orders.money ->> 'currency' as currency_code,
        {{ cents_to_amount("(orders.money ->> 'product_base_price')::bigint") }} as base_price,
        {{ cents_to_amount("(orders.money ->> 'settlement_amount')::bigint") }} as offer_price,
        {{ cents_to_amount("(orders.money ->> 'charge_amount')::bigint") }}
            as customer_paid_amount,
        {{ cents_to_amount("(orders.money ->> 'kiwify_fee')::bigint") }}
            as platform_fee_amount,
        (
            select coalesce(sum({{ cents_to_amount("(s ->> 'value')::bigint") }}), 0)
            from jsonb_array_elements(orders.money -> 'commissioned_stores') as s
            where s ->> 'type' = 'coproducer'
        ) as coproducer_commission_amount,
        (
            select coalesce(sum({{ cents_to_amount("(s ->> 'value')::bigint") }}), 0)
            from jsonb_array_elements(orders.money -> 'commissioned_stores') as s
            where s ->> 'type' = 'affiliate'
        ) as affiliate_commission_amount,
        {{ cents_to_amount("(orders.money ->> 'my_commission')::bigint") }}
            as reported_producer_amount,
        jsonb_build_array(jsonb_build_object(
            'raw_role', 'kiwify_fee',
            'amount', {{ cents_to_amount("(orders.money ->> 'kiwify_fee')::bigint") }},
            'currency_code', orders.money ->> 'kiwify_fee_currency', 'participant', 'kiwify'
        )) || coalesce((
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', s ->> 'type',
                    'amount', {{ cents_to_amount("(s ->> 'value')::bigint") }},
                    'currency_code', orders.money ->> 'currency',
                    'participant', coalesce(s ->> 'affiliate_id', s ->> 'id')
                ))
            from jsonb_array_elements(orders.money -> 'commissioned_stores') as s
        ), '[]'::jsonb) as commission_lines,
        7 as warranty_days,
        {{ brt_to_timestamp("orders.body ->> 'created_at'") }} as ordered_at,
        {{ brt_to_timestamp("orders.body ->> 'approved_date'") }} as approved_at,
        null::timestamptz as warranty_expires_at,
        lower(orders.body -> 'Customer' ->> 'email') as customer_email,
        orders.body -> 'Customer' ->> 'full_name' as customer_name,
        orders.body -> 'Customer' ->> 'cnpj' as customer_document,
        orders.body -> 'Product' ->> 'product_id' as platform_product_id,
        orders.body -> 'Product' ->> 'product_name' as product_name,
        null::text as product_sku,
        null::text as offer_code,
        null::text as coupon_code,
        orders.body ? 'Subscription' as is_subscription,
        orders.body ->> 'subscription_id' as platform_subscription_id,
        orders.body -> 'Subscription' -> 'plan' ->> 'id' as plan_id,
        orders.body -> 'Subscription' -> 'plan' ->> 'name' as plan_name,
        null::int as recurrence_number,
        orders.body -> 'Subscription' ->> 'status' as subscription_status,
        orders.tracking ->> 'src' as tracking_source,
        orders.tracking ->> 'sck' as tracking_sck,
        orders.tracking ->> 'utm_source' as utm_source,
        orders.tracking ->> 'utm_medium' as utm_medium,
        orders.tracking ->> 'utm_campaign' as utm_campaign,
        orders.body ->> 'card_rejection_reason' as refusal_reason
    from orders
)

select * from renamed
