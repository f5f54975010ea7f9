{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(source('giftcards', 'giftcard_transactions')) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        {{ required("nullif(body ->> 'id', '')", 'id', issues) }} as giftcard_transaction_id,
        {{ required("nullif(body ->> 'cardId', '')", 'cardId', issues) }} as card_id,
        body ->> 'operation' as operation,
        {{ expected(money("body ->> 'value'", 'value', issues), 'value', issues,
                    raw="nullif(body ->> 'value', '')") }} as amount,
        {{ required(timestamp("body ->> 'date'", 'date', issues), 'date', issues,
                    raw="nullif(body ->> 'date', '')") }} as occurred_at,
        body ->> 'requestId' as request_id,
        body ->> 'description' as description,
        body ->> 'orderId' as order_id,
        body ->> 'paymentId' as payment_id,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    select
        *,
        -- a re-exported record (same id, other bytes) is kept once, the first delivered
        {{ superseded_columns(
            ['giftcard_transaction_id'],
            ['card_id', 'operation', 'amount', 'occurred_at', 'order_id', 'payment_id']
        ) }}
    from renamed
)

select * from ranked
