-- Carts left at checkout on every platform, for the checkout funnel analysis.

with

carts as (
    select * from {{ ref('stg_hotmart__cart_abandonments') }}
    union all
    select * from {{ ref('stg_kiwify__cart_abandonments') }}
    union all
    select * from {{ ref('stg_eduzz__cart_abandonments') }}
)

select
    {{ dbt.hash('cart_key') }} as abandoned_checkout_key,
    platform,
    source_event_id,
    abandoned_at,
    {{ person_key('customer_email') }} as customer_key,
    {{ product_key('product_name') }} as product_key,
    platform_product_id,
    product_name
from carts
