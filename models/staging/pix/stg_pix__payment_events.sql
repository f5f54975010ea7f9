{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}
{%- set split = "payment -> 'SplitPayments' -> 0" %}

with

source as materialized (
    {{ raw_payloads(source('pix', 'pix_payments')) }}
),

payments as (
    select
        *,
        {{ json_object("body -> 'Payment'", 'Payment', issues) }} as payment,
        {{ json_object("body -> 'Customer'", 'Customer', issues) }} as customer
    from source
),

parsed as (
    select
        *,
        coalesce(payment ->> 'PaymentId', payment ->> 'Paymentid') as payment_id,
        {{ integer("payment ->> 'Status'", 'Payment.Status', issues) }} as status_code,
        coalesce(
            {{ integer("payment ->> 'VoidedAmount'", 'Payment.VoidedAmount', issues,
                       type='bigint') }}, 0
        ) as voided_cents,
        {{ integer("payment ->> 'Amount'", 'Payment.Amount', issues, type='bigint') }}
            as amount_cents
    from payments
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        'pix' as platform,
        coalesce(payment_id, 'record:' || encode(_record_hash, 'hex')) || ':' || status_code
        || ':' || voided_cents || ':'
        || coalesce(payment ->> 'VoidedDate', '') as source_event_id,
        'braspag_status_' || status_code as event_name,
        {{ required("case
            when status_code = 2 and voided_cents > 0 then voided_at
            when status_code = 2 then approved_at
            when status_code in (10, 11) then voided_at
            else ordered_at
        end", 'Payment.ReceivedDate', issues) }} as event_at,
        {{ required("nullif(body ->> 'MerchantOrderId', '')", 'MerchantOrderId', issues) }}
            as platform_transaction_id,
        {{ expected('payment_id', 'Payment.PaymentId', issues) }} as payment_id,
        case
            -- a part of the order refunded to the PIX payer; it may be the whole PIX part
            -- when a gift card paid the rest (a refund of the whole order is status 11)
            when status_code = 2 and voided_cents > 0
                then '2:partial_refund'
            else status_code::text
        end as raw_status,
        payment ->> 'Type' as raw_payment_method,
        coalesce(payment ->> 'Currency', 'BRL') as currency_code,
        (amount_cents::numeric / 100)::numeric(18, 2) as pix_amount,
        (voided_cents::numeric / 100)::numeric(18, 2) as voided_amount,
        ordered_at,
        approved_at,
        voided_at,
        payment ->> 'ProviderReturnMessage' as provider_message,
        coalesce(
            {{ boolean("payment ->> 'DoSplit'", 'Payment.DoSplit', issues) }}, false
        ) as has_split,
        {{ cents(split ~ " ->> 'Amount'", 'Payment.SplitPayments[0].Amount', issues) }}
            as split_base_amount,
        {{ split }} ->> 'SubordinateMerchantId' as subordinate_merchant_id,
        {{ safe_cast(split ~ " -> 'Fares' ->> 'Mdr'", 'numeric') }} as split_mdr_percent,
        {{ cents(split ~ " -> 'Fares' ->> 'Fee'", 'Payment.SplitPayments[0].Fares.Fee',
                 issues) }} as split_fee_amount,
        {{ cents(split ~ " -> 'Splits' -> 0 ->> 'Amount'",
                 'Payment.SplitPayments[0].Splits[0].Amount', issues) }} as subordinate_amount,
        {{ cents(split ~ " -> 'Splits' -> 1 ->> 'Amount'",
                 'Payment.SplitPayments[0].Splits[1].Amount', issues) }} as master_amount,
        lower(customer ->> 'Email') as customer_email,
        customer ->> 'Name' as customer_name,
        customer ->> 'Identity' as customer_document,
        {{ data_issues_column(issues) }} as data_issues
    from (
        select
            *,
            {{ brt_timestamp("payment ->> 'ReceivedDate'", 'Payment.ReceivedDate', issues) }}
                as ordered_at,
            {{ brt_timestamp("payment ->> 'CapturedDate'", 'Payment.CapturedDate', issues) }}
                as approved_at,
            {{ brt_timestamp("payment ->> 'VoidedDate'", 'Payment.VoidedDate', issues) }}
                as voided_at
        from parsed
    ) as dated
)

select * from renamed
