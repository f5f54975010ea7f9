with

source as materialized (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'),
        filter="payload ->> 'type' = 'abandonment'"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') || ':0' as cart_key,
        'eduzz' as platform,
        body ->> 'identifier' as source_event_id,
        (body ->> 'cartAccessedAt')::timestamptz as abandoned_at,
        lower(body ->> 'customer[email]') as customer_email,
        body ->> 'product[id]' as platform_product_id,
        body ->> 'product[title]' as product_name
    from source
)

select * from renamed
