-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('giftcards', 'giftcard_transactions')) }}
),

renamed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(" ~ json_text('body', 'id') ~ ", '')", 'id', issues) }}
            as giftcard_transaction_id,
        {{ required("nullif(" ~ json_text('body', 'cardId') ~ ", '')", 'cardId', issues) }}
            as card_id,
        {{ json_text('body', 'operation') }} as operation,
        {{ expected(money(json_text('body', 'value'), 'value', issues), 'value', issues,
                    raw="nullif(" ~ json_text('body', 'value') ~ ", '')") }} as amount,
        {{ required(timestamp(json_text('body', 'date'), 'date', issues), 'date', issues,
                    raw="nullif(" ~ json_text('body', 'date') ~ ", '')") }} as occurred_at,
        {{ json_text('body', 'requestId') }} as request_id,
        {{ json_text('body', 'description') }} as description,
        {{ json_text('body', 'orderId') }} as order_id,
        {{ json_text('body', 'paymentId') }} as payment_id,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    {{ with_superseded_columns(
        'renamed',
        ['giftcard_transaction_id'],
        ['card_id', 'operation', 'amount', 'occurred_at', 'order_id', 'payment_id']
    ) }}
)

select * from ranked
