{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

with

source as materialized (
    {{ raw_payloads(source('eduzz', 'eduzz_webhooks')) }}
),

invoices as (
    select
        *,
        {{ brt_to_timestamp("(body ->> 'trans_createdate') || ' ' || (body ->> 'trans_createtime')",
                            'YYYYMMDD HH24:MI:SS') }} as created_at,
        {{ brt_to_timestamp("nullif(body ->> 'trans_paiddate', '') || ' ' "
                            "|| coalesce(nullif(body ->> 'trans_paidtime', ''), '00:00:00')",
                            'YYYYMMDD HH24:MI:SS') }} as paid_at,
        {{ brt_to_timestamp("(body ->> 'trans_duedate') || ' ' || (body ->> 'trans_duetime')",
                            'YYYYMMDD HH24:MI:SS') }} as due_at,
        {{ brt_to_timestamp("body ->> 'refund_date'", 'YYYY-MM-DD') }} as refunded_at
    from source
    where body ->> 'type' = 'invoice'
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _loaded_at,
        'eduzz' as platform,
        (body ->> 'trans_cod') || ':' || (body ->> 'trans_status') as source_event_id,
        'invoice_status_' || (body ->> 'trans_status') as event_name,
        -- Legacy postbacks carry no event time: each status has its own date field.
        case body ->> 'trans_status'
            when '3' then coalesce(paid_at, created_at)
            when '6' then coalesce(paid_at, created_at)
            when '7' then coalesce(refunded_at, paid_at, created_at)
            when '10' then coalesce(due_at, created_at)
            else created_at
        end as event_at,
        body ->> 'trans_cod' as platform_transaction_id,
        body ->> 'trans_status' as raw_status,
        body ->> 'trans_paymentmethod' as raw_payment_method,
        1 as installments_number,
        coalesce(nullif(body ->> 'trans_currency', ''), 'BRL') as currency_code,
        {{ to_money("body ->> 'trans_items[0][item_value]'") }} as base_price,
        {{ to_money("body ->> 'trans_value'") }} as offer_price,
        {{ to_money("body ->> 'trans_paid'") }} as customer_paid_amount,
        coalesce({{ to_money("body ->> 'eduzz_value'") }}, 0) as platform_fee_amount,
        coalesce({{ to_money("body ->> 'cop_value'") }}, 0) as coproducer_commission_amount,
        coalesce({{ to_money("body ->> 'aff_value'") }}, 0) as affiliate_commission_amount,
        {{ to_money("body ->> 'pro_value'") }} as reported_producer_amount,
        (
            select
                jsonb_agg(jsonb_build_object(
                    'raw_role', field, 'amount', {{ to_money("body ->> field") }},
                    'currency_code', coalesce(nullif(body ->> 'trans_currency', ''), 'BRL'),
                    'participant', case field
                        when 'aff_value' then nullif(body ->> 'aff_cod', '')
                        when 'pro_value' then body ->> 'pro_cod'
                        else field
                    end
                ))
            from unnest(array['eduzz_value', 'pro_value', 'cop_value', 'aff_value']) as field
            where {{ to_money("body ->> field") }} <> 0
        ) as commission_lines,
        nullif(body ->> 'product_refund', '')::int as warranty_days,
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
        nullif(body ->> 'recurrence_count', '')::int as recurrence_number,
        nullif(body ->> 'tracker_trk2', '') as tracking_source,
        nullif(body ->> 'tracker_trk', '') as tracking_sck,
        nullif(body ->> 'utm_source', '') as utm_source,
        nullif(body ->> 'utm_medium', '') as utm_medium,
        nullif(body ->> 'utm_campaign', '') as utm_campaign,
        null::text as refusal_reason
    from invoices
)

select * from renamed
