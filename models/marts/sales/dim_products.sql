-- One product across platforms: the same product name is the same product (each
-- platform gives it its own id; those ids are kept).

-- Incremental by product: the products touched since the last build (the one a
-- transaction computed again since is of now, and the one it was of:
-- touched_products_since_build) are forgotten (pre-hook) and computed again from all
-- their transactions (read by an index on int_transactions' product key, the touched
-- products as a list: as a semi-join PostgreSQL read every transaction for one product,
-- 1.2 s at a million); every other product stays.
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_touched_products() }}",
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

{% if is_incremental() %}
    touched as (
        {{ touched_products_since_build() }}
    ),
{% endif %}

transactions as (
    select * from {{ ref('int_transactions') }}
    {%- if is_incremental() %}
    where {{ in_rows_of(product_key('product_name'), 'touched', 'product_key') }}
    {%- endif %}
),

-- each variant once (a million transactions name a few hundred): every figure below is
-- the same over distinct rows, and far cheaper
products as (
    select distinct
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
