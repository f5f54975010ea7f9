{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']},
                   {'columns': ['source_event_id']}]) }}

{%- set issues = [] %}
{#- the payment's times, read (and their issues recorded) before the issues column -#}
{%- set received = brt_timestamp(json_text('payment', 'ReceivedDate'), 'Payment.ReceivedDate',
                                 issues) %}
{%- set captured = brt_timestamp(json_text('payment', 'CapturedDate'), 'Payment.CapturedDate',
                                 issues) %}
{%- set voided = brt_timestamp(json_text('payment', 'VoidedDate'), 'Payment.VoidedDate',
                               issues) %}
{%- do approved_after_order(received, captured, 'Payment.CapturedDate', issues) %}
{%- set plausible_ordered = plausible_time(received, 'pix', 'Payment.ReceivedDate', issues) %}
{%- set plausible_approved = plausible_time(captured, 'pix', 'Payment.CapturedDate', issues) %}
{%- do cents_ceiling_issue(json_text('payment', 'Amount'), 'Payment.Amount', issues) %}
{%- do cents_ceiling_issue(json_text('payment', 'VoidedAmount'), 'Payment.VoidedAmount',
                           issues) %}
{%- set split_payments = json_get('payment', 'SplitPayments') %}
{%- set split_cents = plausible_cents(safe_cast(json_text('sp.value', 'Amount'), type_bigint())) %}
{%- set share_cents = plausible_cents(safe_cast(json_text('s.value', 'Amount'), type_bigint())) %}
{%- set share_merchant = json_text('s.value', 'MerchantId') %}
{%- set subordinate = json_text('sp.value', 'SubordinateMerchantId') %}
{#- a subordinate's share of one SplitPayments entry (`sp`) -#}
{%- set subordinate_share %}
    {% call json_elements_scalar(json_get('sp.value', 'Splits'), 's',
            {'total': {'kind': 'sum', 'value': share_cents,
                       'where': share_merchant ~ ' = ' ~ subordinate}},
            result='cast(cast(total as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
    cast((
        select cast(sum({{ share_cents }}) as {{ type_numeric() }}) / 100
        from {{ json_elements(json_get('sp.value', 'Splits'), 's') }}
        where {{ share_merchant }} = {{ subordinate }}
    ) as {{ type_money() }})
    {%- endcall %}
{%- endset %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('pix', 'pix_payments')) }}
),

-- materialized: Payment and Customer are taken out of the payload once per row (inlined,
-- every field read below took them out again)
payments as {{ materialized_hint() }} (
    select
        *,
        {{ json_object(json_get('body', 'Payment'), 'Payment', issues) }} as payment,
        {{ json_object(json_get('body', 'Customer'), 'Customer', issues) }} as customer
    from source
),

parsed as (
    select
        *,
        coalesce({{ json_text('payment', 'PaymentId') }}, {{ json_text('payment', 'Paymentid') }})
            as payment_id,
        {{ integer(json_text('payment', 'Status'), 'Payment.Status', issues) }} as status_code,
        coalesce(
            {{ integer(json_text('payment', 'VoidedAmount'), 'Payment.VoidedAmount', issues,
                       type=type_bigint()) }}, 0
        ) as voided_cents,
        {{ integer(json_text('payment', 'Amount'), 'Payment.Amount', issues,
                   type=type_bigint()) }}
            as amount_cents
    from payments
),

renamed as (
    select
        {{ record_lineage() }},
        'pix' as platform,
        coalesce(payment_id, 'record:' || {{ bytes_to_hex('_record_hash') }}) || ':'
        || status_code || ':' || voided_cents || ':'
        || coalesce({{ json_text('payment', 'VoidedDate') }}, '') as source_event_id,
        'braspag_status_' || status_code as event_name,
        {{ required("case
            when status_code = 2 and voided_cents > 0 then voided_at
            when status_code = 2 then captured_at
            when status_code in (10, 11) then voided_at
            else received_at
        end", 'Payment.ReceivedDate', issues) }} as event_at,
        {{ required("nullif(" ~ json_text('body', 'MerchantOrderId') ~ ", '')",
                    'MerchantOrderId', issues) }} as platform_transaction_id,
        {{ expected('payment_id', 'Payment.PaymentId', issues) }} as payment_id,
        case
            -- the whole PIX amount voided while the gateway still says 2 (Braspag's own
            -- "query after refund" example): a full refund of the PIX payment
            when status_code = 2 and voided_cents > 0 and voided_cents >= amount_cents
                then '2:voided_whole'
            -- less than the PIX amount voided: a partial refund
            when status_code = 2 and voided_cents > 0
                then '2:partial_refund'
            else cast(status_code as {{ type_text() }})
        end as raw_status,
        {{ json_text('payment', 'Type') }} as raw_payment_method,
        coalesce({{ json_text('payment', 'Currency') }}, 'BRL') as currency_code,
        {{ amount_of_cents('amount_cents') }} as pix_amount,
        {{ amount_of_cents('voided_cents') }} as voided_amount,
        ordered_at,
        approved_at,
        voided_at,
        {{ json_text('payment', 'ProviderReturnMessage') }} as provider_message,
        coalesce(
            {{ boolean(json_text('payment', 'DoSplit'), 'Payment.DoSplit', issues) }}, false
        ) as has_split,
        -- one SplitPayments entry per subordinate: its Amount is the part of the sale it
        -- splits; its Splits give the subordinate's share and the master's fare
        {%- do check_elements(split_payments, 'Amount', type_bigint(),
                              'Payment.SplitPayments[].Amount', issues,
                              cents=true) %}
        {% call json_elements_scalar(split_payments, 'sp',
                {'total': {'kind': 'sum', 'value': split_cents}},
                result='cast(cast(total as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(sum({{ split_cents }}) as {{ type_numeric() }}) / 100
            from {{ json_elements(split_payments, 'sp') }}
        ) as {{ type_money() }})
        {%- endcall %} as split_base_amount,
        {{ json_text('payment', 'SplitPayments', 0, 'SubordinateMerchantId') }}
            as subordinate_merchant_id,
        {{ safe_cast(json_text('payment', 'SplitPayments', 0, 'Fares', 'Mdr'), type_numeric()) }}
            as split_mdr_percent,
        {% call json_elements_scalar(split_payments, 'sp',
                {'total': {'kind': 'sum', 'value': plausible_cents(
                    safe_cast(json_text('sp.value', 'Fares', 'Fee'), type_bigint()))}},
                result='cast(cast(total as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select
                cast(
                    sum({{ plausible_cents(
                        safe_cast(json_text('sp.value', 'Fares', 'Fee'), type_bigint())
                    ) }})
                    as {{ type_numeric() }}
                ) / 100
            from {{ json_elements(split_payments, 'sp') }}
        ) as {{ type_money() }})
        {%- endcall %} as split_fee_amount,
        {% call json_elements_scalar(split_payments, 'sp',
                {'total': {'kind': 'sum', 'value': share_cents,
                           'within': {'json_array': json_get('sp.value', 'Splits'), 'alias': 's'},
                           'where': share_merchant ~ ' = ' ~ subordinate}},
                result='cast(cast(total as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(sum({{ share_cents }}) as {{ type_numeric() }}) / 100
            from {{ json_elements(split_payments, 'sp') }}
            {{ join_json_elements(json_get('sp.value', 'Splits'), 's') }}
            where {{ share_merchant }} = {{ subordinate }}
        ) as {{ type_money() }})
        {%- endcall %} as subordinate_amount,
        {% call json_elements_scalar(split_payments, 'sp',
                {'total': {'kind': 'sum', 'value': share_cents,
                           'within': {'json_array': json_get('sp.value', 'Splits'), 'alias': 's'},
                           'where': share_merchant ~ ' is distinct from ' ~ subordinate}},
                result='cast(cast(total as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select cast(sum({{ share_cents }}) as {{ type_numeric() }}) / 100
            from {{ json_elements(split_payments, 'sp') }}
            {{ join_json_elements(json_get('sp.value', 'Splits'), 's') }}
            where {{ share_merchant }} is distinct from {{ subordinate }}
        ) as {{ type_money() }})
        {%- endcall %} as master_amount,
        {% call json_elements_scalar(split_payments, 'sp',
                {'lines': {'kind': 'collect', 'order_by': subordinate,
                           'value': json_object_of({
                               'participant': subordinate,
                               'amount': subordinate_share,
                           })}}) -%}
        (
            select
                {{ json_collect(json_object_of({
                    'participant': subordinate,
                    'amount': subordinate_share,
                }), order_by=subordinate) }}
            from {{ json_elements(split_payments, 'sp') }}
        )
        {%- endcall %} as subordinate_lines,
        lower({{ json_text('customer', 'Email') }}) as customer_email,
        {{ json_text('customer', 'Name') }} as customer_name,
        {{ json_text('customer', 'Identity') }} as customer_document,
        {{ data_issues_column(issues) }} as data_issues
    from (
        select
            *,
            -- the event's own time places it in the history; the order and approval times
            -- the marts show are the plausible ones (macros/field_readers.sql)
            {{ received }} as received_at,
            {{ captured }} as captured_at,
            {{ plausible_ordered }} as ordered_at,
            {{ plausible_approved }} as approved_at,
            {{ voided }} as voided_at
        from parsed
    ) as dated
)

select * from renamed
