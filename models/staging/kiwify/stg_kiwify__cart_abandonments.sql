-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('kiwify', 'kiwify_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(
        source('kiwify', 'kiwify_webhooks'), since=watermark(),
        filter=reader_records(model.name, 'payload', delivered=true)
    ) }}
),

carts as (
    select
        {{ bytes_to_hex('source._record_hash') }} || ':' || cart.position as cart_key,
        {{ record_lineage('source', load_seq=false) }},
        cart.value as cart
    from source
    {{ join_json_elements('source.body', 'cart', position=true) }}
),

renamed as (
    select
        cart_key,
        record_hash,
        source_file,
        source_line,
        'kiwify' as platform,
        {{ json_text('cart', 'id') }} as source_event_id,
        {{ timestamp(json_text('cart', 'created_at'), 'created_at', issues,
                     assume_zone='America/Sao_Paulo') }} as abandoned_at,
        lower({{ json_text('cart', 'email') }}) as customer_email,
        {{ json_text('cart', 'product_id') }} as platform_product_id,
        {{ json_text('cart', 'product_name') }} as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from carts
)

select * from renamed
