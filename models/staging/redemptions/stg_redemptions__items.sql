with

source as (
    select * from {{ source('redemptions', 'redemption_items') }}
),

renamed as (
    select
        item_id,
        order_number,
        product_sku,
        product_name,
        product_type,
        quantity::int as quantity,
        points_per_item::bigint as points_per_item,
        quantity::int * points_per_item::bigint as item_points,
        fulfillment_status
    from source
)

select * from renamed
