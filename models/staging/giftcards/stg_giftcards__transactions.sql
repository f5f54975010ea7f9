with

source as materialized (
    {{ raw_payloads(source('giftcards', 'giftcard_transactions')) }}
),

renamed as (
    select
        body ->> 'id' as giftcard_transaction_id,
        body ->> 'cardId' as card_id,
        body ->> 'operation' as operation,
        (body ->> 'value')::numeric(18, 2) as amount,
        (body ->> 'date')::timestamptz as occurred_at,
        body ->> 'requestId' as request_id,
        body ->> 'description' as description,
        body ->> 'orderId' as order_id,
        body ->> 'paymentId' as payment_id
    from source
)

select * from renamed
