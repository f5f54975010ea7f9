{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns') }}

with

source as materialized (
    {{ raw_payloads(source('pix', 'pix_orders')) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _loaded_at,
        body ->> 'orderId' as order_id,
        (body ->> 'creationDate')::timestamptz as ordered_at,
        (body ->> 'lastChange')::timestamptz as snapshot_at,
        body ->> 'status' as order_status,
        {{ cents_to_amount("(body ->> 'value')::bigint") }} as order_total_amount,
        {{ cents_to_amount(
            "(select coalesce(sum((p ->> 'value')::bigint), 0) "
            "from jsonb_array_elements(source.body -> 'payments') as p "
            "where p ->> 'paymentSystem' = 'GiftCard')") }} as giftcard_amount,
        {{ cents_to_amount(
            "(select coalesce(sum((p ->> 'value')::bigint), 0) "
            "from jsonb_array_elements(source.body -> 'payments') as p "
            "where p ->> 'paymentSystem' = 'PIX')") }} as pix_amount,
        (
            select p ->> 'giftCardId'
            from jsonb_array_elements(source.body -> 'payments') as p
            where p ->> 'paymentSystem' = 'GiftCard'
            order by p ->> 'giftCardId'
            limit 1
        ) as giftcard_id,
        body -> 'payments' as payments,
        body -> 'items' as items,
        body ->> 'consultantId' as consultant_id,
        (body -> 'shippingData' ->> 'shippedDate')::timestamptz as shipped_at,
        (body -> 'shippingData' ->> 'deliveredDate')::timestamptz as delivered_at,
        lower(body -> 'clientProfileData' ->> 'email') as customer_email
    from source
)

select * from renamed
