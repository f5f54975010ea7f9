-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('eduzz', 'eduzz_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'), since=watermark(),
        filter="payload ->> 'type' = 'abandonment'"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') || ':0' as cart_key,
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        'eduzz' as platform,
        body ->> 'identifier' as source_event_id,
        {{ timestamp("body ->> 'cartAccessedAt'", 'cartAccessedAt', issues,
                     assume_zone='America/Sao_Paulo') }} as abandoned_at,
        lower(body ->> 'customer[email]') as customer_email,
        body ->> 'product[id]' as platform_product_id,
        body ->> 'product[title]' as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from source
)

select * from renamed
