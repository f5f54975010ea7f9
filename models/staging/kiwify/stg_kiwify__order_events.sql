{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}],
          post_hook="{{ partial_index('platform_subscription_id',
                                      \"event_name = 'subscription_canceled'\") }}") }}

{%- set issues = [] %}
{%- set store_cents = plausible_cents(safe_cast(json_text('s.value', 'value'), type_bigint())) %}
{#- the commission lines: Kiwify's fee, then one line per commissioned store -#}
{%- set kiwify_fee_line %}
    {{ json_array_of([json_object_of({
        'raw_role': "'kiwify_fee'",
        'amount': amount_of_cents(safe_cast(json_text('money', 'kiwify_fee'), type_bigint())),
        'currency_code': json_text('money', 'kiwify_fee_currency'),
        'participant': "'kiwify'",
    })]) }}
{%- endset %}
{%- set store_line = json_object_of({
    'raw_role': json_text('s.value', 'type'),
    'amount': amount_of_cents(store_cents),
    'currency_code': json_text('orders.money', 'currency'),
    'participant': 'coalesce(' ~ json_text('s.value', 'affiliate_id') ~ ', '
        ~ json_text('s.value', 'id') ~ ')',
}) %}
{%- set store_lines %}
    {% call json_elements_scalar('stores', 's',
                                 {'lines': {'kind': 'collect', 'value': store_line}},
                                 result='coalesce(lines, ' ~ json_empty_array() ~ ')') -%}
    coalesce((
        select
            {{ json_collect(json_object_of({
                'raw_role': json_text('s.value', 'type'),
                'amount': amount_of_cents(store_cents),
                'currency_code': json_text('orders.money', 'currency'),
                'participant': 'coalesce(' ~ json_text('s.value', 'affiliate_id') ~ ', '
                    ~ json_text('s.value', 'id') ~ ')',
            })) }}
        from {{ json_elements('stores', 's') }}
    ), {{ json_empty_array() }})
    {%- endcall %}
{%- endset %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('kiwify', 'kiwify_webhooks')) }}
),

-- materialized: each part of the payload is taken out once per row (inlined, every field
-- read below took Commissions, Customer, Product… out of the payload again)
orders as {{ materialized_hint() }} (
    select
        *,
        {{ json_object(json_get('body', 'Commissions'), 'Commissions', issues) }} as money,
        {{ json_array(json_get('body', 'Commissions', 'commissioned_stores'),
                      'Commissions.commissioned_stores', issues) }} as stores,
        {{ json_object(json_get('body', 'TrackingParameters'), 'TrackingParameters',
                       issues) }} as tracking,
        {{ json_object(json_get('body', 'Customer'), 'Customer', issues) }} as customer,
        {{ json_object(json_get('body', 'Product'), 'Product', issues) }} as product,
        {{ json_object(json_get('body', 'Subscription'), 'Subscription', issues) }}
            as subscription
    from source
    where {{ reader_records(model.name, 'body') }}
),

renamed as (
    select
        {{ record_lineage() }},
        'kiwify' as platform,
        ({{ json_text('body', 'order_id') }}) || ':'
        || coalesce({{ json_text('body', 'webhook_event_type') }}, '') || ':'
        || coalesce({{ json_text('body', 'updated_at') }}, '') as source_event_id,
        {{ json_text('body', 'webhook_event_type') }} as event_name,
        {{ required(brt_timestamp(json_text('body', 'updated_at'), 'updated_at', issues),
                    'updated_at', issues, raw=json_text('body', 'updated_at')) }} as event_at,
        {{ required("nullif(" ~ json_text('body', 'order_id') ~ ", '')", 'order_id',
                    issues) }} as platform_transaction_id,
        {{ expected(json_text('body', 'order_status'), 'order_status', issues) }}
            as raw_status,
        {{ json_text('body', 'payment_method') }} as raw_payment_method,
        coalesce({{ integer(json_text('body', 'installments'), 'installments', issues) }}, 1)
            as installments_number,
        {{ expected(json_text('money', 'currency'), 'Commissions.currency', issues) }}
            as currency_code,
        {{ cents(json_text('money', 'product_base_price'), 'Commissions.product_base_price',
                 issues) }} as base_price,
        {{ expected(
            cents(json_text('money', 'settlement_amount'), 'Commissions.settlement_amount',
                  issues),
            'Commissions.settlement_amount', issues,
            raw="nullif(" ~ json_text('money', 'settlement_amount') ~ ", '')"
        ) }} as offer_price,
        {{ cents(json_text('money', 'charge_amount'), 'Commissions.charge_amount', issues) }}
            as customer_paid_amount,
        {{ cents(json_text('money', 'kiwify_fee'), 'Commissions.kiwify_fee', issues) }}
            as platform_fee_amount,
        {%- do check_elements('stores', 'value', type_bigint(),
                              'Commissions.commissioned_stores[].value', issues,
                              cents=true) %}
        {% call json_elements_scalar('stores', 's',
                {'total': {'kind': 'sum', 'value': store_cents,
                           'where': json_text('s.value', 'type') ~ " = 'coproducer'"}},
                result='cast(cast(coalesce(total, 0) as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(coalesce(sum({{ store_cents }}), 0) as {{ type_numeric() }}) / 100
            from {{ json_elements('stores', 's') }}
            where {{ json_text('s.value', 'type') }} = 'coproducer'
        ) as {{ type_money() }})
        {%- endcall %} as coproducer_commission_amount,
        {% call json_elements_scalar('stores', 's',
                {'total': {'kind': 'sum', 'value': store_cents,
                           'where': json_text('s.value', 'type') ~ " = 'affiliate'"}},
                result='cast(cast(coalesce(total, 0) as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(coalesce(sum({{ store_cents }}), 0) as {{ type_numeric() }}) / 100
            from {{ json_elements('stores', 's') }}
            where {{ json_text('s.value', 'type') }} = 'affiliate'
        ) as {{ type_money() }})
        {%- endcall %} as affiliate_commission_amount,
        {{ cents(json_text('money', 'my_commission'), 'Commissions.my_commission', issues) }}
            as reported_producer_amount,
        {{ json_array_concat(kiwify_fee_line, store_lines) }} as commission_lines,
        7 as warranty_days,
        {%- set ordered = brt_timestamp(json_text('body', 'created_at'), 'created_at', issues) %}
        {%- set approved = brt_timestamp(json_text('body', 'approved_date'), 'approved_date',
                                         issues) %}
        {%- do approved_after_order(ordered, approved, 'approved_date', issues) %}
        {{ plausible_time(ordered, 'kiwify', 'created_at', issues) }} as ordered_at,
        {{ plausible_time(approved, 'kiwify', 'approved_date', issues) }} as approved_at,
        cast(null as {{ type_timestamp() }}) as warranty_expires_at,
        lower({{ json_text('customer', 'email') }}) as customer_email,
        {{ json_text('customer', 'full_name') }} as customer_name,
        {{ json_text('customer', 'cnpj') }} as customer_document,
        {{ json_text('product', 'product_id') }} as platform_product_id,
        {{ json_text('product', 'product_name') }} as product_name,
        cast(null as {{ type_text() }}) as product_sku,
        cast(null as {{ type_text() }}) as offer_code,
        cast(null as {{ type_text() }}) as coupon_code,
        {{ json_has_key('body', 'Subscription') }} as is_subscription,
        {{ json_text('body', 'subscription_id') }} as platform_subscription_id,
        {{ json_text('subscription', 'plan', 'id') }} as plan_id,
        {{ json_text('subscription', 'plan', 'name') }} as plan_name,
        cast(null as {{ type_int() }}) as recurrence_number,
        {{ json_text('subscription', 'status') }} as subscription_status,
        {{ json_text('tracking', 'src') }} as tracking_source,
        {{ json_text('tracking', 'sck') }} as tracking_sck,
        {{ json_text('tracking', 'utm_source') }} as utm_source,
        {{ json_text('tracking', 'utm_medium') }} as utm_medium,
        {{ json_text('tracking', 'utm_campaign') }} as utm_campaign,
        {{ json_text('body', 'card_rejection_reason') }} as refusal_reason,
        -- a refund event that says how much was refunded (none of these webhooks does)
        cast(null as {{ type_money() }}) as refund_amount,
        {{ data_issues_column(issues) }} as data_issues
    from orders
)

select * from renamed
