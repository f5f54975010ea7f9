-- One product across platforms: the same product name is the same product (each
-- platform gives it its own id; those ids are kept).

with

transactions as (
    select * from {{ ref('int_transactions') }}
),

products as (
    select
        {{ product_key('product_name') }} as product_key,
        product_sku,
        product_name,
        platform,
        platform_product_id
    from transactions
),

final as (
    select
        product_key,
        max(product_sku) as sku,
        coalesce(min(product_name), '(product not named)') as name,
        {{ array_of_distinct('platform') }} as platforms,
        -- a platform that gave the product several ids: the highest, whatever the order of
        -- the rows (a later key wins in an object)
        {% call json_column() -%}
        {{ json_collect_object('platform', 'platform_product_id',
                               order_by='platform, platform_product_id') }}
        {%- endcall %}
            as platform_product_ids
    from products
    group by product_key
)

select * from final
