-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('kiwify', 'kiwify_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(
        source('kiwify', 'kiwify_webhooks'), since=watermark(),
        filter="json_typeof(payload) = 'array'"
    ) }}
),

carts as (
    select
        encode(source._record_hash, 'hex') || ':' || cart.position as cart_key,
        encode(source._record_hash, 'hex') as record_hash,
        source._file_name as source_file,
        source._line_no as source_line,
        cart.value as cart
    from source
    cross join lateral jsonb_array_elements(source.body) with ordinality as cart (value, position)
),

renamed as (
    select
        cart_key,
        record_hash,
        source_file,
        source_line,
        'kiwify' as platform,
        cart ->> 'id' as source_event_id,
        {{ timestamp("cart ->> 'created_at'", 'created_at', issues,
                     assume_zone='America/Sao_Paulo') }} as abandoned_at,
        lower(cart ->> 'email') as customer_email,
        cart ->> 'product_id' as platform_product_id,
        cart ->> 'product_name' as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from carts
)

select * from renamed
