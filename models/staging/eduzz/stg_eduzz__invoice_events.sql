{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

{%- set issues = [] %}
{%- set currency = "coalesce(nullif(body ->> 'trans_currency', ''), 'BRL')" %}

with

source as materialized (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'),
        filter="payload ->> 'type' in ('invoice', 'invoice|contract')"
    ) }}
),

invoices as (
    select
        *,
        {{ brt_date_time("body ->> 'trans_createdate'", "body ->> 'trans_createtime'",
                         'trans_createdate', issues) }} as created_at,
        {{ brt_date_time("body ->> 'trans_paiddate'", "body ->> 'trans_paidtime'",
                         'trans_paiddate', issues) }} as paid_at,
        {{ brt_date_time("body ->> 'trans_duedate'", "body ->> 'trans_duetime'",
                         'trans_duedate', issues) }} as due_at,
        {{ brt_timestamp("body ->> 'refund_date'", 'refund_date', issues) }} as refunded_at
    from source
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        'eduzz' as platform,
        (body ->> 'trans_cod') || ':' || coalesce(body ->> 'trans_status', '')
            as source_event_id,
        'invoice_status_' || (body ->> 'trans_status') as event_name,
        -- Legacy postbacks carry no event time: each status has its own date field.
        {{ required("case body ->> 'trans_status'
            when '3' then coalesce(paid_at, created_at)
            when '6' then coalesce(paid_at, created_at)
            when '7' then coalesce(refunded_at, paid_at, created_at)
            when '10' then coalesce(due_at, created_at)
            else created_at
        end", 'trans_createdate', issues, raw="nullif(body ->> 'trans_createdate', '')") }}
            as event_at,
        {{ required("nullif(body ->> 'trans_cod', '')", 'trans_cod', issues) }}
            as platform_transaction_id,
        {{ expected("nullif(body ->> 'trans_status', '')", 'trans_status', issues) }}
            as raw_status,
        body ->> 'trans_paymentmethod' as raw_payment_method,
        1 as installments_number,
        {{ currency }} as currency_code,
        {{ money("body ->> 'trans_items[0][item_value]'", 'trans_items[0][item_value]',
                 issues) }} as base_price,
        {{ expected(money("body ->> 'trans_value'", 'trans_value', issues),
                    'trans_value', issues, raw="nullif(body ->> 'trans_value', '')") }}
            as offer_price,
        {{ money("body ->> 'trans_paid'", 'trans_paid', issues) }} as customer_paid_amount,
        coalesce(
            {{ money("body ->> 'eduzz_value'", 'eduzz_value', issues) }}, 0
        )::numeric(18, 2)
            as platform_fee_amount,
        coalesce(
            {{ money("body ->> 'cop_value'", 'cop_value', issues) }}, 0
        )::numeric(18, 2)
            as coproducer_commission_amount,
        coalesce(
            {{ money("body ->> 'aff_value'", 'aff_value', issues) }}, 0
        )::numeric(18, 2)
            as affiliate_commission_amount,
        {{ money("body ->> 'pro_value'", 'pro_value', issues) }} as reported_producer_amount,
        (
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', field,
                    'amount', {{ safe_cast("nullif(body ->> field, '')", 'numeric(18, 2)') }},
                    'currency_code', {{ currency }},
                    'participant', case field
                        when 'aff_value' then nullif(body ->> 'aff_cod', '')
                        when 'pro_value' then body ->> 'pro_cod'
                        else field
                    end
                ))
            from unnest(array['eduzz_value', 'pro_value', 'cop_value', 'aff_value']) as field
            where {{ safe_cast("nullif(body ->> field, '')", 'numeric(18, 2)') }} <> 0
        ) as commission_lines,
        {{ integer("body ->> 'product_refund'", 'product_refund', issues) }} as warranty_days,
        created_at as ordered_at,
        paid_at as approved_at,
        null::timestamptz as warranty_expires_at,
        lower(body ->> 'cus_email') as customer_email,
        body ->> 'cus_name' as customer_name,
        body ->> 'cus_taxnumber' as customer_document,
        body ->> 'product_cod' as platform_product_id,
        body ->> 'product_name' as product_name,
        nullif(body ->> 'product_sku', '') as product_sku,
        null::text as offer_code,
        nullif(body ->> 'discount_coupon_code', '') as coupon_code,
        nullif(body ->> 'recurrence_cod', '') is not null as is_subscription,
        nullif(body ->> 'recurrence_cod', '') as platform_subscription_id,
        nullif(body ->> 'recurrence_plan', '') as plan_id,
        nullif(body ->> 'recurrence_plan', '') as plan_name,
        {{ integer("body ->> 'recurrence_count'", 'recurrence_count', issues) }}
            as recurrence_number,
        nullif(body ->> 'tracker_trk2', '') as tracking_source,
        nullif(body ->> 'tracker_trk', '') as tracking_sck,
        nullif(body ->> 'utm_source', '') as utm_source,
        nullif(body ->> 'utm_medium', '') as utm_medium,
        nullif(body ->> 'utm_campaign', '') as utm_campaign,
        null::text as refusal_reason,
        {{ data_issues_column(issues) }} as data_issues
    from invoices
)

select * from renamed
