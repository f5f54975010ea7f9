with

source as materialized (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'),
        filter="payload ->> 'event' = 'PURCHASE_OUT_OF_SHOPPING_CART'"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') || ':0' as cart_key,
        'hotmart' as platform,
        body ->> 'id' as source_event_id,
        {{ epoch_ms_to_timestamp("body ->> 'creation_date'") }} as abandoned_at,
        lower(body -> 'data' -> 'buyer' ->> 'email') as customer_email,
        body -> 'data' -> 'product' ->> 'id' as platform_product_id,
        body -> 'data' -> 'product' ->> 'name' as product_name
    from source
)

select * from renamed
