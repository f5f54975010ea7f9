{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

-- Kiwify sales API (GET /v1/sales?view_full_sale_details=true, `tallyhouse backfill`): one
-- row per record, a snapshot of the sale when its page was fetched. The event time is that
-- fetch time (the page file's name), never the sale's updated_at: a snapshot never goes
-- ahead of a webhook event that happened later. The key is the sale id, the webhooks'
-- order_id, so a sale known from both is one transaction. Amounts in cents: the charge is
-- the offer price, payment.fee Kiwify's fee, payment.net_amount what is left after it;
-- the revenue partners (net_amount_split) are co-producers and affiliate_commission the
-- affiliate, and the producer's line is the net left after them (DECISIONS.md).

{%- set issues = [] %}
{%- set split_cents = plausible_cents(safe_cast(json_text('p.value', 'net_amount_split'),
                                                type_bigint())) %}
{%- set partner_line = json_object_of({
    'raw_role': "'coproducer'",
    'amount': amount_of_cents(split_cents),
    'currency_code': 'currency_code',
    'participant': json_text('p.value', 'account_id'),
}) %}
{%- set partner_lines %}
    {% call json_elements_scalar('partners', 'p',
                                 {'lines': {'kind': 'collect', 'value': partner_line}},
                                 result='coalesce(lines, ' ~ json_empty_array() ~ ')') -%}
    coalesce((
        select
            {{ json_collect(json_object_of({
                'raw_role': "'coproducer'",
                'amount': amount_of_cents(split_cents),
                'currency_code': 'currency_code',
                'participant': json_text('p.value', 'account_id'),
            })) }}
        from {{ json_elements('partners', 'p') }}
    ), {{ json_empty_array() }})
    {%- endcall %}
{%- endset %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('kiwify', 'kiwify_sales')) }}
),

sales as (
    select
        *,
        {{ json_object(json_get('body', 'payment'), 'payment', issues) }} as payment,
        {{ json_array(json_get('body', 'revenue_partners'), 'revenue_partners', issues) }}
            as partners,
        {{ json_object(json_get('body', 'affiliate_commission'), 'affiliate_commission',
                       issues) }} as affiliate,
        {{ json_object(json_get('body', 'tracking'), 'tracking', issues) }} as tracking,
        {{ json_object(json_get('body', 'customer'), 'customer', issues) }} as customer,
        {{ json_object(json_get('body', 'product'), 'product', issues) }} as product
    from source
    where {{ reader_records(model.name, 'body') }}
),

amounts as (
    select
        *,
        coalesce(
            nullif({{ json_text('payment', 'charge_currency') }}, ''),
            nullif({{ json_text('body', 'currency') }}, '')
        ) as currency_code,
        {{ cents(json_text('payment', 'charge_amount'), 'payment.charge_amount', issues) }}
            as charge_amount,
        {{ cents(json_text('payment', 'fee'), 'payment.fee', issues) }} as fee_amount,
        {{ cents(json_text('payment', 'net_amount'), 'payment.net_amount', issues) }}
            as net_amount,
        {%- do check_elements('partners', 'net_amount_split', type_bigint(),
                              'revenue_partners[].net_amount_split', issues, cents=true) %}
        {% call json_elements_scalar('partners', 'p',
                {'total': {'kind': 'sum', 'value': split_cents}},
                result='cast(cast(coalesce(total, 0) as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(coalesce(sum({{ split_cents }}), 0) as {{ type_numeric() }}) / 100
            from {{ json_elements('partners', 'p') }}
        ) as {{ type_money() }})
        {%- endcall %} as coproducer_amount,
        cast(coalesce(
            {{ cents(json_text('affiliate', 'amount'), 'affiliate_commission.amount', issues) }},
            0
        ) as {{ type_money() }}) as affiliate_amount
    from sales
),

renamed as (
    select
        {{ record_lineage() }},
        'kiwify' as platform,
        'sales:' || {{ bytes_to_hex('_record_hash') }} as source_event_id,
        'sales' as event_name,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as event_at,
        {{ required("nullif(" ~ json_text('body', 'id') ~ ", '')", 'id', issues) }}
            as platform_transaction_id,
        {{ expected("nullif(" ~ json_text('body', 'status') ~ ", '')", 'status', issues) }}
            as raw_status,
        {{ json_text('body', 'payment_method') }} as raw_payment_method,
        coalesce({{ integer(json_text('body', 'installments'), 'installments', issues) }}, 1)
            as installments_number,
        {{ expected('currency_code', 'payment.charge_currency', issues) }} as currency_code,
        {{ cents(json_text('payment', 'product_base_price'), 'payment.product_base_price',
                 issues) }} as base_price,
        {{ expected('charge_amount', 'payment.charge_amount', issues,
                    raw="nullif(" ~ json_text('payment', 'charge_amount') ~ ", '')") }}
            as offer_price,
        charge_amount as customer_paid_amount,
        {{ expected('fee_amount', 'payment.fee', issues,
                    raw="nullif(" ~ json_text('payment', 'fee') ~ ", '')") }}
            as platform_fee_amount,
        coproducer_amount as coproducer_commission_amount,
        affiliate_amount as affiliate_commission_amount,
        cast(net_amount - coproducer_amount - affiliate_amount as {{ type_money() }})
            as reported_producer_amount,
        {{ json_array_concat(
            json_array_of([
                json_object_of({
                    'raw_role': "'kiwify_fee'",
                    'amount': 'fee_amount',
                    'currency_code': 'coalesce(nullif(' ~ json_text('payment', 'fee_currency')
                        ~ ", ''), currency_code)",
                    'participant': "'kiwify'",
                }),
                json_object_of({
                    'raw_role': "'producer'",
                    'amount': 'net_amount - coproducer_amount - affiliate_amount',
                    'currency_code': 'coalesce(nullif('
                        ~ json_text('payment', 'settlement_currency') ~ ", ''), currency_code)",
                    'participant': "'producer'",
                }),
            ]),
            json_array_concat(partner_lines, "case when affiliate_amount <> 0 then "
                ~ json_array_of([json_object_of({
                    'raw_role': "'affiliate'",
                    'amount': 'affiliate_amount',
                    'currency_code': 'currency_code',
                    'participant': "'affiliate'",
                })]) ~ " else " ~ json_empty_array() ~ " end")
        ) }} as commission_lines,
        7 as warranty_days,
        {%- set ordered = timestamp(json_text('body', 'created_at'), 'created_at', issues,
                                    assume_zone='America/Sao_Paulo') %}
        {%- set approved = timestamp(json_text('body', 'approved_date'), 'approved_date',
                                     issues, assume_zone='America/Sao_Paulo') %}
        {%- do approved_after_order(ordered, approved, 'approved_date', issues) %}
        {{ plausible_time(ordered, 'kiwify', 'created_at', issues) }} as ordered_at,
        {{ plausible_time(approved, 'kiwify', 'approved_date', issues) }} as approved_at,
        cast(null as {{ type_timestamp() }}) as warranty_expires_at,
        lower({{ json_text('customer', 'email') }}) as customer_email,
        {{ json_text('customer', 'name') }} as customer_name,
        {{ json_text('customer', 'cpf') }} as customer_document,
        {{ json_text('product', 'id') }} as platform_product_id,
        {{ json_text('product', 'name') }} as product_name,
        cast(null as {{ type_text() }}) as product_sku,
        cast(null as {{ type_text() }}) as offer_code,
        cast(null as {{ type_text() }}) as coupon_code,
        coalesce({{ json_text('body', 'type') }} = 'subscription', false) as is_subscription,
        cast(null as {{ type_text() }}) as platform_subscription_id,
        cast(null as {{ type_text() }}) as plan_id,
        cast(null as {{ type_text() }}) as plan_name,
        cast(null as {{ type_int() }}) as recurrence_number,
        {{ json_text('tracking', 'src') }} as tracking_source,
        {{ json_text('tracking', 'sck') }} as tracking_sck,
        {{ json_text('tracking', 'utm_source') }} as utm_source,
        {{ json_text('tracking', 'utm_medium') }} as utm_medium,
        {{ json_text('tracking', 'utm_campaign') }} as utm_campaign,
        {{ json_text('body', 'card_rejection_reason') }} as refusal_reason,
        -- the sale says it was refunded, not how much
        cast(null as {{ type_money() }}) as refund_amount,
        {{ data_issues_column(issues) }} as data_issues
    from amounts
)

select * from renamed
