-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='cart_key',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('eduzz', 'eduzz_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'), since=watermark(),
        filter=reader_records(model.name, 'payload', delivered=true)
    ) }}
),

renamed as (
    select
        {{ bytes_to_hex('_record_hash') }} || ':0' as cart_key,
        {{ record_lineage(load_seq=false) }},
        'eduzz' as platform,
        {{ json_text('body', 'identifier') }} as source_event_id,
        {{ timestamp(json_text('body', 'cartAccessedAt'), 'cartAccessedAt', issues,
                     assume_zone='America/Sao_Paulo') }} as abandoned_at,
        lower({{ json_text('body', 'customer[email]') }}) as customer_email,
        {{ json_text('body', 'product[id]') }} as platform_product_id,
        {{ json_text('body', 'product[title]') }} as product_name,
        {{ data_issues_column(issues) }} as data_issues
    from source
)

select * from renamed
