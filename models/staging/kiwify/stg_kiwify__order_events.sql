{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(source('kiwify', 'kiwify_webhooks')) }}
),

orders as (
    select
        *,
        {{ json_object("body -> 'Commissions'", 'Commissions', issues) }} as money,
        {{ json_array("body -> 'Commissions' -> 'commissioned_stores'",
                      'Commissions.commissioned_stores', issues) }} as stores,
        {{ json_object("body -> 'TrackingParameters'", 'TrackingParameters', issues) }}
            as tracking,
        {{ json_object("body -> 'Customer'", 'Customer', issues) }} as customer,
        {{ json_object("body -> 'Product'", 'Product', issues) }} as product,
        {{ json_object("body -> 'Subscription'", 'Subscription', issues) }} as subscription
    from source
    where {{ json_type('body') }} = 'object' and body ? 'order_id'
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        'kiwify' as platform,
        (body ->> 'order_id') || ':' || coalesce(body ->> 'webhook_event_type', '') || ':'
        || coalesce(body ->> 'updated_at', '') as source_event_id,
        body ->> 'webhook_event_type' as event_name,
        {{ required(brt_timestamp("body ->> 'updated_at'", 'updated_at', issues),
                    'updated_at', issues, raw="body ->> 'updated_at'") }} as event_at,
        {{ required("nullif(body ->> 'order_id', '')", 'order_id', issues) }}
            as platform_transaction_id,
        {{ expected("body ->> 'order_status'", 'order_status', issues) }} as raw_status,
        body ->> 'payment_method' as raw_payment_method,
        coalesce({{ integer("body ->> 'installments'", 'installments', issues) }}, 1)
            as installments_number,
        {{ expected("money ->> 'currency'", 'Commissions.currency', issues) }}
            as currency_code,
        {{ cents("money ->> 'product_base_price'", 'Commissions.product_base_price', issues) }}
            as base_price,
        {{ expected(
            cents("money ->> 'settlement_amount'", 'Commissions.settlement_amount', issues),
            'Commissions.settlement_amount', issues,
            raw="nullif(money ->> 'settlement_amount', '')"
        ) }} as offer_price,
        {{ cents("money ->> 'charge_amount'", 'Commissions.charge_amount', issues) }}
            as customer_paid_amount,
        {{ cents("money ->> 'kiwify_fee'", 'Commissions.kiwify_fee', issues) }}
            as platform_fee_amount,
        {%- do check_elements('stores', 'value', 'bigint',
                              'Commissions.commissioned_stores[].value', issues) %}
        (
            select coalesce(sum({{ safe_cast("s ->> 'value'", 'bigint') }}), 0)::numeric / 100
            from {{ json_array_elements('stores') }} as s
            where s ->> 'type' = 'coproducer'
        )::numeric(18, 2) as coproducer_commission_amount,
        (
            select coalesce(sum({{ safe_cast("s ->> 'value'", 'bigint') }}), 0)::numeric / 100
            from {{ json_array_elements('stores') }} as s
            where s ->> 'type' = 'affiliate'
        )::numeric(18, 2) as affiliate_commission_amount,
        {{ cents("money ->> 'my_commission'", 'Commissions.my_commission', issues) }}
            as reported_producer_amount,
        jsonb_build_array(jsonb_build_object(
            'raw_role', 'kiwify_fee',
            'amount',
            ({{ safe_cast("money ->> 'kiwify_fee'", 'bigint') }}::numeric / 100)::numeric(18, 2),
            'currency_code', money ->> 'kiwify_fee_currency', 'participant', 'kiwify'
        )) || coalesce((
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', s ->> 'type',
                    'amount',
                    ({{ safe_cast("s ->> 'value'", 'bigint') }}::numeric / 100)::numeric(18, 2),
                    'currency_code', orders.money ->> 'currency',
                    'participant', coalesce(s ->> 'affiliate_id', s ->> 'id')
                ))
            from {{ json_array_elements('stores') }} as s
        ), '[]'::jsonb) as commission_lines,
        7 as warranty_days,
        {{ brt_timestamp("body ->> 'created_at'", 'created_at', issues) }} as ordered_at,
        {{ brt_timestamp("body ->> 'approved_date'", 'approved_date', issues) }} as approved_at,
        null::timestamptz as warranty_expires_at,
        lower(customer ->> 'email') as customer_email,
        customer ->> 'full_name' as customer_name,
        customer ->> 'cnpj' as customer_document,
        product ->> 'product_id' as platform_product_id,
        product ->> 'product_name' as product_name,
        null::text as product_sku,
        null::text as offer_code,
        null::text as coupon_code,
        body ? 'Subscription' as is_subscription,
        body ->> 'subscription_id' as platform_subscription_id,
        subscription -> 'plan' ->> 'id' as plan_id,
        subscription -> 'plan' ->> 'name' as plan_name,
        null::int as recurrence_number,
        subscription ->> 'status' as subscription_status,
        tracking ->> 'src' as tracking_source,
        tracking ->> 'sck' as tracking_sck,
        tracking ->> 'utm_source' as utm_source,
        tracking ->> 'utm_medium' as utm_medium,
        tracking ->> 'utm_campaign' as utm_campaign,
        body ->> 'card_rejection_reason' as refusal_reason,
        {{ data_issues_column(issues) }} as data_issues
    from orders
)

select * from renamed
