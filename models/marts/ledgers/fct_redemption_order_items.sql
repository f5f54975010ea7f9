with

items as (
    select * from {{ ref('stg_redemptions__items') }}
    where not is_superseded and item_id is not null and order_number is not null
)

select
    item_id,
    order_number,
    product_sku,
    product_name,
    product_type,
    quantity,
    points_per_item,
    item_points,
    fulfillment_status
from items
