-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter="payload ->> 'event' = 'PURCHASE_OUT_OF_SHOPPING_CART'"
    ) }}
),

carts as (
    select
        *,
        {{ json_object("body -> 'data'", 'data', issues) }} as data,
        {{ json_object("body -> 'data' -> 'buyer'", 'data.buyer', issues) }} as buyer,
        {{ json_object("body -> 'data' -> 'product'", 'data.product', issues) }} as product
    from source
),

renamed as (
    select
        encode(_record_hash, 'hex') || ':0' as cart_key,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        'hotmart' as platform,
        body ->> 'id' as source_event_id,
        {{ epoch_ms("body ->> 'creation_date'", 'creation_date', issues) }} as abandoned_at,
        lower(buyer ->> 'email') as customer_email,
        product ->> 'id' as platform_product_id,
        product ->> 'name' as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from carts
)

select * from renamed
