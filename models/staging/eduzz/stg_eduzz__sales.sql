{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

-- MyEduzz sales API (GET /myeduzz/v1/sales, `tallyhouse backfill`): one row per record, a
-- snapshot of the sale when its page was fetched. The event time is that fetch time (the
-- page file's name): a snapshot never goes ahead of a webhook event that happened later.
-- The key is the sale (invoice) id, the webhooks' trans_cod, so a sale known from both is
-- one transaction. Statuses are snake_case (the seeds map them); money comes as
-- {currency, value} decimals: total is the offer price, fee Eduzz's fee, partnersGain and
-- affiliatesGain the partners' shares and netGain the producer's.

{%- set issues = [] %}
{%- set currency = "coalesce(nullif(" ~ json_text('body', 'total', 'currency') ~ ", ''), "
    ~ "nullif(" ~ json_text('body', 'currency') ~ ", ''))" %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('eduzz', 'eduzz_sales')) }}
),

sales as (
    select
        *,
        {{ json_object(json_get('body', 'buyer'), 'buyer', issues) }} as buyer,
        {{ json_object(json_get('body', 'product'), 'product', issues) }} as product
    from source
    where {{ reader_records(model.name, 'body') }}
),

amounts as (
    select
        *,
        {{ money(json_text('body', 'total', 'value'), 'total.value', issues) }} as total_amount,
        {{ money(json_text('body', 'fee', 'value'), 'fee.value', issues) }} as fee_amount,
        {{ money(json_text('body', 'partnersGain', 'value'), 'partnersGain.value', issues) }}
            as partners_amount,
        {{ money(json_text('body', 'affiliatesGain', 'value'), 'affiliatesGain.value',
                 issues) }} as affiliates_amount,
        {{ money(json_text('body', 'netGain', 'value'), 'netGain.value', issues) }}
            as net_amount
    from sales
),

renamed as (
    select
        {{ record_lineage() }},
        'eduzz' as platform,
        'sales:' || {{ bytes_to_hex('_record_hash') }} as source_event_id,
        'sales' as event_name,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as event_at,
        {{ required("nullif(" ~ json_text('body', 'id') ~ ", '')", 'id', issues) }}
            as platform_transaction_id,
        {{ expected("nullif(" ~ json_text('body', 'status') ~ ", '')", 'status', issues) }}
            as raw_status,
        {{ json_text('body', 'paymentMethod') }} as raw_payment_method,
        coalesce({{ integer(json_text('body', 'installments'), 'installments', issues) }}, 1)
            as installments_number,
        {{ expected(currency, 'total.currency', issues) }} as currency_code,
        total_amount as base_price,
        {{ expected('total_amount', 'total.value', issues,
                    raw="nullif(" ~ json_text('body', 'total', 'value') ~ ", '')") }}
            as offer_price,
        coalesce(
            {{ money(json_text('body', 'totalInterest', 'value'), 'totalInterest.value',
                     issues) }},
            total_amount
        ) as customer_paid_amount,
        cast(coalesce(fee_amount, 0) as {{ type_money() }}) as platform_fee_amount,
        cast(coalesce(partners_amount, 0) as {{ type_money() }})
            as coproducer_commission_amount,
        cast(coalesce(affiliates_amount, 0) as {{ type_money() }})
            as affiliate_commission_amount,
        net_amount as reported_producer_amount,
        -- the lines under the webhooks' names (seeds/commission_roles.csv)
        {% call json_elements_scalar(none, 'field', {'lines': {'kind': 'collect',
                'value': json_object_of({
                    'raw_role': 'field',
                    'amount': 'case field when '
                        ~ "'eduzz_value' then fee_amount when 'pro_value' then net_amount "
                        ~ "when 'cop_value' then partners_amount else affiliates_amount end",
                    'currency_code': currency,
                    'participant': 'field',
                }),
                'where': "coalesce(case field when 'eduzz_value' then fee_amount "
                    ~ "when 'pro_value' then net_amount when 'cop_value' then partners_amount "
                    ~ "else affiliates_amount end, 0) <> 0"}},
                values=['eduzz_value', 'pro_value', 'cop_value', 'aff_value']) -%}
        (
            select
                {{ json_collect(json_object_of({
                    'raw_role': 'field',
                    'amount': 'case field when '
                        ~ "'eduzz_value' then fee_amount when 'pro_value' then net_amount "
                        ~ "when 'cop_value' then partners_amount else affiliates_amount end",
                    'currency_code': currency,
                    'participant': 'field',
                })) }}
            from {{ rows_of_values(['eduzz_value', 'pro_value', 'cop_value', 'aff_value'],
                                   'field') }}
            where coalesce(case field
                when 'eduzz_value' then fee_amount
                when 'pro_value' then net_amount
                when 'cop_value' then partners_amount
                else affiliates_amount
            end, 0) <> 0
        )
        {%- endcall %} as commission_lines,
        cast(null as {{ type_int() }}) as warranty_days,
        {%- set ordered = timestamp(json_text('body', 'createdAt'), 'createdAt', issues,
                                    assume_zone='America/Sao_Paulo') %}
        {%- set approved = timestamp(json_text('body', 'paidAt'), 'paidAt', issues,
                                     assume_zone='America/Sao_Paulo') %}
        {%- do approved_after_order(ordered, approved, 'paidAt', issues) %}
        {{ plausible_time(ordered, 'eduzz', 'createdAt', issues) }} as ordered_at,
        {{ plausible_time(approved, 'eduzz', 'paidAt', issues) }} as approved_at,
        cast(null as {{ type_timestamp() }}) as warranty_expires_at,
        lower({{ json_text('buyer', 'email') }}) as customer_email,
        {{ json_text('buyer', 'name') }} as customer_name,
        {{ json_text('buyer', 'document') }} as customer_document,
        {{ json_text('product', 'id') }} as platform_product_id,
        {{ json_text('product', 'name') }} as product_name,
        cast(null as {{ type_text() }}) as product_sku,
        cast(null as {{ type_text() }}) as offer_code,
        cast(null as {{ type_text() }}) as coupon_code,
        nullif({{ json_text('body', 'contractId') }}, '') is not null as is_subscription,
        nullif({{ json_text('body', 'contractId') }}, '') as platform_subscription_id,
        cast(null as {{ type_text() }}) as plan_id,
        cast(null as {{ type_text() }}) as plan_name,
        cast(null as {{ type_int() }}) as recurrence_number,
        cast(null as {{ type_text() }}) as tracking_source,
        cast(null as {{ type_text() }}) as tracking_sck,
        cast(null as {{ type_text() }}) as utm_source,
        cast(null as {{ type_text() }}) as utm_medium,
        cast(null as {{ type_text() }}) as utm_campaign,
        cast(null as {{ type_text() }}) as refusal_reason,
        -- the sale says it was refunded, not how much
        cast(null as {{ type_money() }}) as refund_amount,
        {{ data_issues_column(issues) }} as data_issues
    from amounts
)

select * from renamed
