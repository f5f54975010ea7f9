-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark([source('eduzz', 'eduzz_webhooks')]) }}") }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(
        source('eduzz', 'eduzz_webhooks'), since=watermark(),
        filter="payload ->> 'type' = 'contract'"
    ) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        'eduzz' as platform,
        {{ required("nullif(body ->> 'recurrence_cod', '')", 'recurrence_cod', issues) }}
            as platform_subscription_id,
        body ->> 'recurrence_status' as raw_contract_status,
        {{ brt_timestamp("body ->> 'recurrence_canceled_at'", 'recurrence_canceled_at',
                         issues) }} as cancelled_at,
        {{ data_issues_column(issues) }} as data_issues
    from source
)

select * from renamed
