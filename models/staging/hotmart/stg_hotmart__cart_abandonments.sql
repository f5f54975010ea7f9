-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('hotmart', 'hotmart_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(
        source('hotmart', 'hotmart_webhooks'), since=watermark(),
        filter=reader_records(model.name, 'payload', delivered=true)
    ) }}
),

carts as (
    select
        *,
        {{ json_object(json_get('body', 'data'), 'data', issues) }} as data,
        {{ json_object(json_get('body', 'data', 'buyer'), 'data.buyer', issues) }} as buyer,
        {{ json_object(json_get('body', 'data', 'product'), 'data.product', issues) }}
            as product
    from source
),

renamed as (
    select
        {{ bytes_to_hex('_record_hash') }} || ':0' as cart_key,
        {{ record_lineage(load_seq=false) }},
        'hotmart' as platform,
        {{ json_text('body', 'id') }} as source_event_id,
        {{ epoch_ms(json_text('body', 'creation_date'), 'creation_date', issues) }}
            as abandoned_at,
        lower({{ json_text('buyer', 'email') }}) as customer_email,
        {{ json_text('product', 'id') }} as platform_product_id,
        {{ json_text('product', 'name') }} as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from carts
)

select * from renamed
