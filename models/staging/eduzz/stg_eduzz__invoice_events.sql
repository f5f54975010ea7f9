{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

{%- set issues = [] %}
{%- set currency = "coalesce(nullif(" ~ json_text('body', 'trans_currency') ~ ", ''), 'BRL')" %}
{%- set field_amount = money_value("nullif(" ~ json_text_by_key('body', 'field') ~ ", '')") %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'),
        filter=reader_records(model.name, 'payload', delivered=true)
    ) }}
),

-- materialized: each status date is parsed once per row (inlined, every use of created_at,
-- paid_at… below parsed and validated its date again)
invoices as {{ materialized_hint() }} (
    select
        *,
        {{ brt_date_time(json_text('body', 'trans_createdate'),
                         json_text('body', 'trans_createtime'),
                         'trans_createdate', issues) }} as created_at,
        {{ brt_date_time(json_text('body', 'trans_paiddate'), json_text('body', 'trans_paidtime'),
                         'trans_paiddate', issues) }} as paid_at,
        {{ brt_date_time(json_text('body', 'trans_duedate'), json_text('body', 'trans_duetime'),
                         'trans_duedate', issues) }} as due_at,
        {{ brt_timestamp(json_text('body', 'refund_date'), 'refund_date', issues) }}
            as refunded_at
    from source
),

renamed as (
    select
        {{ record_lineage() }},
        'eduzz' as platform,
        ({{ json_text('body', 'trans_cod') }}) || ':'
        || coalesce({{ json_text('body', 'trans_status') }}, '') as source_event_id,
        'invoice_status_' || ({{ json_text('body', 'trans_status') }}) as event_name,
        -- Legacy postbacks carry no event time: each status has its own date field.
        {{ required("case " ~ json_text('body', 'trans_status') ~ "
            when '3' then coalesce(paid_at, created_at)
            when '6' then coalesce(paid_at, created_at)
            when '7' then coalesce(refunded_at, paid_at, created_at)
            when '10' then coalesce(due_at, created_at)
            else created_at
        end", 'trans_createdate', issues,
            raw="nullif(" ~ json_text('body', 'trans_createdate') ~ ", '')") }} as event_at,
        {{ required("nullif(" ~ json_text('body', 'trans_cod') ~ ", '')", 'trans_cod',
                    issues) }} as platform_transaction_id,
        {{ expected("nullif(" ~ json_text('body', 'trans_status') ~ ", '')", 'trans_status',
                    issues) }} as raw_status,
        {{ json_text('body', 'trans_paymentmethod') }} as raw_payment_method,
        1 as installments_number,
        {{ currency }} as currency_code,
        {{ money(json_text('body', 'trans_items[0][item_value]'), 'trans_items[0][item_value]',
                 issues) }} as base_price,
        {{ expected(money(json_text('body', 'trans_value'), 'trans_value', issues),
                    'trans_value', issues,
                    raw="nullif(" ~ json_text('body', 'trans_value') ~ ", '')") }}
            as offer_price,
        {{ money(json_text('body', 'trans_paid'), 'trans_paid', issues) }}
            as customer_paid_amount,
        cast(coalesce(
            {{ money(json_text('body', 'eduzz_value'), 'eduzz_value', issues) }}, 0
        ) as {{ type_money() }})
            as platform_fee_amount,
        cast(coalesce(
            {{ money(json_text('body', 'cop_value'), 'cop_value', issues) }}, 0
        ) as {{ type_money() }})
            as coproducer_commission_amount,
        cast(coalesce(
            {{ money(json_text('body', 'aff_value'), 'aff_value', issues) }}, 0
        ) as {{ type_money() }})
            as affiliate_commission_amount,
        {{ money(json_text('body', 'pro_value'), 'pro_value', issues) }}
            as reported_producer_amount,
        {% call json_elements_scalar(none, 'field', {'lines': {'kind': 'collect',
                'value': json_object_of({
                    'raw_role': 'field',
                    'amount': field_amount,
                    'currency_code': currency,
                    'participant': "case field
                        when 'aff_value' then nullif(" ~ json_text('body', 'aff_cod') ~ ", '')
                        when 'pro_value' then " ~ json_text('body', 'pro_cod') ~ "
                        else field
                    end",
                }),
                'where': field_amount ~ ' <> 0'}},
                values=['eduzz_value', 'pro_value', 'cop_value', 'aff_value']) -%}
        (
            select
                {{ json_collect(json_object_of({
                    'raw_role': 'field',
                    'amount': field_amount,
                    'currency_code': currency,
                    'participant': "case field
                        when 'aff_value' then nullif(" ~ json_text('body', 'aff_cod') ~ ", '')
                        when 'pro_value' then " ~ json_text('body', 'pro_cod') ~ "
                        else field
                    end",
                })) }}
            from {{ rows_of_values(['eduzz_value', 'pro_value', 'cop_value', 'aff_value'],
                                   'field') }}
            where {{ field_amount }} <> 0
        )
        {%- endcall %} as commission_lines,
        {{ integer(json_text('body', 'product_refund'), 'product_refund', issues) }}
            as warranty_days,
        {%- do approved_after_order('created_at', 'paid_at', 'trans_paiddate', issues) %}
        {{ plausible_time('created_at', 'eduzz', 'trans_createdate', issues) }} as ordered_at,
        {{ plausible_time('paid_at', 'eduzz', 'trans_paiddate', issues) }} as approved_at,
        cast(null as {{ type_timestamp() }}) as warranty_expires_at,
        lower({{ json_text('body', 'cus_email') }}) as customer_email,
        {{ json_text('body', 'cus_name') }} as customer_name,
        {{ json_text('body', 'cus_taxnumber') }} as customer_document,
        {{ json_text('body', 'product_cod') }} as platform_product_id,
        {{ json_text('body', 'product_name') }} as product_name,
        nullif({{ json_text('body', 'product_sku') }}, '') as product_sku,
        cast(null as {{ type_text() }}) as offer_code,
        nullif({{ json_text('body', 'discount_coupon_code') }}, '') as coupon_code,
        nullif({{ json_text('body', 'recurrence_cod') }}, '') is not null as is_subscription,
        nullif({{ json_text('body', 'recurrence_cod') }}, '') as platform_subscription_id,
        nullif({{ json_text('body', 'recurrence_plan') }}, '') as plan_id,
        nullif({{ json_text('body', 'recurrence_plan') }}, '') as plan_name,
        {{ integer(json_text('body', 'recurrence_count'), 'recurrence_count', issues) }}
            as recurrence_number,
        nullif({{ json_text('body', 'tracker_trk2') }}, '') as tracking_source,
        nullif({{ json_text('body', 'tracker_trk') }}, '') as tracking_sck,
        nullif({{ json_text('body', 'utm_source') }}, '') as utm_source,
        nullif({{ json_text('body', 'utm_medium') }}, '') as utm_medium,
        nullif({{ json_text('body', 'utm_campaign') }}, '') as utm_campaign,
        cast(null as {{ type_text() }}) as refusal_reason,
        -- a refund event that says how much was refunded (none of these webhooks does)
        cast(null as {{ type_money() }}) as refund_amount,
        {{ data_issues_column(issues) }} as data_issues
    from invoices
)

select * from renamed
