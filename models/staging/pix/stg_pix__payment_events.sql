{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

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
            -- the whole PIX amount voided while the gateway still says 2 (Braspag's own
            -- "query after refund" example): a full refund of the PIX payment
            when status_code = 2 and voided_cents > 0 and voided_cents >= amount_cents
                then '2:voided_whole'
            -- less than the PIX amount voided: a partial refund
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
        -- one SplitPayments entry per subordinate: its Amount is the part of the sale it
        -- splits; its Splits give the subordinate's share and the master's fare
        {%- do check_elements("payment -> 'SplitPayments'", 'Amount', 'bigint',
                              'Payment.SplitPayments[].Amount', issues) %}
        (
            select sum({{ safe_cast("sp ->> 'Amount'", 'bigint') }})::numeric / 100
            from {{ json_array_elements("payment -> 'SplitPayments'") }} as sp
        )::numeric(18, 2) as split_base_amount,
        {{ split }} ->> 'SubordinateMerchantId' as subordinate_merchant_id,
        {{ safe_cast(split ~ " -> 'Fares' ->> 'Mdr'", 'numeric') }} as split_mdr_percent,
        (
            select sum({{ safe_cast("sp -> 'Fares' ->> 'Fee'", 'bigint') }})::numeric / 100
            from {{ json_array_elements("payment -> 'SplitPayments'") }} as sp
        )::numeric(18, 2) as split_fee_amount,
        (
            select sum({{ safe_cast("s ->> 'Amount'", 'bigint') }})::numeric / 100
            from {{ json_array_elements("payment -> 'SplitPayments'") }} as sp
            cross join lateral {{ json_array_elements("sp -> 'Splits'") }} as s
            where s ->> 'MerchantId' = sp ->> 'SubordinateMerchantId'
        )::numeric(18, 2) as subordinate_amount,
        (
            select sum({{ safe_cast("s ->> 'Amount'", 'bigint') }})::numeric / 100
            from {{ json_array_elements("payment -> 'SplitPayments'") }} as sp
            cross join lateral {{ json_array_elements("sp -> 'Splits'") }} as s
            where s ->> 'MerchantId' is distinct from sp ->> 'SubordinateMerchantId'
        )::numeric(18, 2) as master_amount,
        (
            select
                jsonb_agg(jsonb_build_object(
                    'participant', sp ->> 'SubordinateMerchantId',
                    'amount', (
                        select sum({{ safe_cast("s ->> 'Amount'", 'bigint') }})::numeric / 100
                        from {{ json_array_elements("sp -> 'Splits'") }} as s
                        where s ->> 'MerchantId' = sp ->> 'SubordinateMerchantId'
                    )::numeric(18, 2)
                ) order by sp ->> 'SubordinateMerchantId')
            from {{ json_array_elements("payment -> 'SplitPayments'") }} as sp
        ) as subordinate_lines,
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
