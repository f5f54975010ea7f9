-- Redemption order items, typed; a re-exported item (same item_id) is kept once, the
-- first delivered.

{%- set issues = [] %}

with

source as (
    select * from {{ source('redemptions', 'redemption_items') }}
),

typed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(item_id, '')", 'item_id', issues) }} as item_id,
        {{ required("nullif(order_number, '')", 'order_number', issues) }} as order_number,
        product_sku,
        product_name,
        {{ one_of('product_type', ['PHYSICAL', 'VIRTUAL'], 'product_type', issues) }},
        {{ integer('quantity', 'quantity', issues) }} as quantity,
        {{ integer('points_per_item', 'points_per_item', issues, type=type_bigint()) }}
            as points_per_item,
        fulfillment_status,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    select
        *,
        quantity * points_per_item as item_points,
        {{ superseded_columns(
            ['item_id'],
            ['order_number', 'product_type', 'quantity', 'points_per_item']
        ) }}
    from typed
)

select * from ranked
