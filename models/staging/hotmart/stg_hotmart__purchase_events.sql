{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

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

with_commissions as (
    select
        purchases.*,
        commission.*
    from purchases
    -- one pass over the commissions array for every figure taken from it
    cross join lateral (
        select
            coalesce(sum({{ safe_cast("c.value ->> 'value'", 'numeric(18, 2)') }}) filter (
                where c.value ->> 'source' = 'MARKETPLACE'
            ), 0)::numeric(18, 2) as platform_fee_amount,
            coalesce(sum({{ safe_cast("c.value ->> 'value'", 'numeric(18, 2)') }}) filter (
                where c.value ->> 'source' in ('COPRODUCER', 'ADDON')
            ), 0)::numeric(18, 2) as coproducer_commission_amount,
            coalesce(sum({{ safe_cast("c.value ->> 'value'", 'numeric(18, 2)') }}) filter (
                where c.value ->> 'source' = 'AFFILIATE'
            ), 0)::numeric(18, 2) as affiliate_commission_amount,
            coalesce(sum({{ safe_cast("c.value ->> 'value'", 'numeric(18, 2)') }}) filter (
                where c.value ->> 'source' = 'PRODUCER'
            ), 0)::numeric(18, 2) as reported_producer_amount,
            jsonb_agg(jsonb_build_object(
                'raw_role',
                c.value ->> 'source',
                'amount',
                {{ safe_cast("c.value ->> 'value'", 'numeric(18, 2)') }},
                'currency_code', c.value ->> 'currency_value',
                'participant', c.value ->> 'source'
            ) order by c.position) as commission_lines,
            string_agg(c.value ->> 'value', ', ') filter (
                where not {{ is_castable("c.value ->> 'value'", 'numeric(18, 2)') }}
            ) as bad_values
        from
            {{ json_array_elements('purchases.commissions') }}
            with ordinality as c (value, position)
    ) as commission
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        'hotmart' as platform,
        {{ hotmart_event_header(issues) }}
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
        {%- do _record_issue(issues, 'data.commissions[].value', 'bad_values',
                             'bad_values is not null',
                             'an element is not a numeric(18, 2)') %}
        platform_fee_amount,
        coproducer_commission_amount,
        affiliate_commission_amount,
        reported_producer_amount,
        commission_lines,
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
    from with_commissions
)

select * from renamed
