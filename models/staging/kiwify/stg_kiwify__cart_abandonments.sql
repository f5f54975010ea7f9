with

source as materialized (
    {{ raw_payloads(
        source('kiwify', 'kiwify_webhooks'),
        filter="json_typeof(payload) = 'array'"
    ) }}
),

carts as (
    select
        encode(source._record_hash, 'hex') || ':' || cart.position as cart_key,
        cart.value as cart
    from source
    cross join lateral jsonb_array_elements(source.body) with ordinality as cart (value, position)
),

renamed as (
    select
        cart_key,
        'kiwify' as platform,
        cart ->> 'id' as source_event_id,
        (cart ->> 'created_at')::timestamptz as abandoned_at,
        lower(cart ->> 'email') as customer_email,
        cart ->> 'product_id' as platform_product_id,
        cart ->> 'product_name' as product_name
    from carts
)

select * from renamed
