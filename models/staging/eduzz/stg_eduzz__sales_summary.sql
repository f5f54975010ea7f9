{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}]) }}

-- MyEduzz API (GET /myeduzz/v1/sales/summary, `tallyhouse backfill`): one row per record,
-- the platform's own totals for one period and status as the API returned them:
-- {request, response} (tallyhouse/backfill/pages.py). The period is the request's
-- startDate / endDate (ISO 8601 with offset) as business days; the response's money is
-- {currency, value} per figure (total, fee, netGain …) and carries no count of sales.
-- Which fetch of a period and status is the latest is int_platform_totals'.

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('eduzz', 'eduzz_sales_summary')) }}
),

summaries as (
    select
        *,
        {{ json_object(json_get('body', 'request'), 'request', issues) }} as request,
        {{ json_object(json_get('body', 'response'), 'response', issues) }} as response
    from source
    where {{ reader_records(model.name, 'body') }}
),

renamed as (
    select
        {{ record_lineage() }},
        'eduzz' as platform,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as fetched_at,
        {{ required(
            business_date(timestamp(json_text('request', 'startDate'), 'request.startDate',
                                    issues)),
            'request.startDate', issues, raw=json_text('request', 'startDate')
        ) }} as period_first_day,
        {{ required(
            business_date(timestamp(json_text('request', 'endDate'), 'request.endDate',
                                    issues)),
            'request.endDate', issues, raw=json_text('request', 'endDate')
        ) }} as period_last_day,
        {{ required("nullif(" ~ json_text('request', 'status') ~ ", '')", 'request.status',
                    issues) }} as raw_status,
        {{ expected("nullif(" ~ json_text('response', 'total', 'currency') ~ ", '')",
                    'response.total.currency', issues) }} as currency_code,
        {{ required(
            money(json_text('response', 'total', 'value'), 'response.total.value', issues),
            'response.total.value', issues,
            raw="nullif(" ~ json_text('response', 'total', 'value') ~ ", '')"
        ) }} as total_value,
        {{ money(json_text('response', 'fee', 'value'), 'response.fee.value', issues) }}
            as fee_amount,
        {{ money(json_text('response', 'netGain', 'value'), 'response.netGain.value',
                 issues) }} as net_gain_amount,
        {{ data_issues_column(issues) }} as data_issues
    from summaries
)

select * from renamed
