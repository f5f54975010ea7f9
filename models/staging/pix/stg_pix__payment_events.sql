{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

with

source as materialized (
    {{ raw_payloads(source('pix', 'pix_payments')) }}
),

payments as (
    select
        *,
        body -> 'Payment' as payment,
        (body -> 'Payment' ->> 'Status')::int as status_code,
        coalesce((body -> 'Payment' ->> 'VoidedAmount')::bigint, 0) as voided_cents,
        (body -> 'Payment' ->> 'Amount')::bigint as amount_cents
    from source
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _loaded_at,
        'pix' as platform,
        (payment ->> 'PaymentId') || ':' || status_code || ':' || voided_cents || ':'
        || coalesce(payment ->> 'VoidedDate', '') as source_event_id,
        'braspag_status_' || status_code as event_name,
        case
            when status_code = 2 and voided_cents > 0
                then {{ brt_to_timestamp("payment ->> 'VoidedDate'") }}
            when status_code = 2 then {{ brt_to_timestamp("payment ->> 'CapturedDate'") }}
            when status_code in (10, 11) then {{ brt_to_timestamp("payment ->> 'VoidedDate'") }}
            else {{ brt_to_timestamp("payment ->> 'ReceivedDate'") }}
        end as event_at,
        body ->> 'MerchantOrderId' as platform_transaction_id,
        payment ->> 'PaymentId' as payment_id,
        case
            -- a part of the order refunded to the PIX payer; it may be the whole PIX part
            -- when a gift card paid the rest (a refund of the whole order is status 11)
            when status_code = 2 and voided_cents > 0
                then '2:partial_refund'
            else status_code::text
        end as raw_status,
        payment ->> 'Type' as raw_payment_method,
        coalesce(payment ->> 'Currency', 'BRL') as currency_code,
        {{ cents_to_amount('amount_cents') }} as pix_amount,
        {{ cents_to_amount('voided_cents') }} as voided_amount,
        {{ brt_to_timestamp("payment ->> 'ReceivedDate'") }} as ordered_at,
        {{ brt_to_timestamp("payment ->> 'CapturedDate'") }} as approved_at,
        {{ brt_to_timestamp("payment ->> 'VoidedDate'") }} as voided_at,
        payment ->> 'ProviderReturnMessage' as provider_message,
        coalesce((payment ->> 'DoSplit')::boolean, false) as has_split,
        {{ cents_to_amount("(payment -> 'SplitPayments' -> 0 ->> 'Amount')::bigint") }}
            as split_base_amount,
        payment -> 'SplitPayments' -> 0 ->> 'SubordinateMerchantId' as subordinate_merchant_id,
        (payment -> 'SplitPayments' -> 0 -> 'Fares' ->> 'Mdr')::numeric as split_mdr_percent,
        {{ cents_to_amount("(payment -> 'SplitPayments' -> 0 -> 'Fares' ->> 'Fee')::bigint") }}
            as split_fee_amount,
        {{ cents_to_amount("(payment -> 'SplitPayments' -> 0 -> 'Splits' -> 0 ->> 'Amount')"
                           "::bigint") }} as subordinate_amount,
        {{ cents_to_amount("(payment -> 'SplitPayments' -> 0 -> 'Splits' -> 1 ->> 'Amount')"
                           "::bigint") }} as master_amount,
        lower(body -> 'Customer' ->> 'Email') as customer_email,
        body -> 'Customer' ->> 'Name' as customer_name,
        body -> 'Customer' ->> 'Identity' as customer_document
    from payments
)

select * from renamed
