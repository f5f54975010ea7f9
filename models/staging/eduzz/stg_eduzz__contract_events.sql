-- Incremental: the raw rows loaded since the last build (watermark kept beside the data).
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
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
        {{ record_lineage() }},
        'eduzz' as platform,
        {{ required("nullif(" ~ json_text('body', 'recurrence_cod') ~ ", '')",
                    'recurrence_cod', issues) }} as platform_subscription_id,
        {{ json_text('body', 'recurrence_status') }} as raw_contract_status,
        {{ brt_timestamp(json_text('body', 'recurrence_canceled_at'), 'recurrence_canceled_at',
                         issues) }} as cancelled_at,
        {{ data_issues_column(issues) }} as data_issues
    from source
)

select * from renamed
