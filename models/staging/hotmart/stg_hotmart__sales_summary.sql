{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}]) }}

-- Hotmart sales API (GET /payments/api/v1/sales/summary, `tallyhouse backfill`): one row
-- per record, the platform's own totals for one period and transaction_status as the API
-- returned them: {request, response} (tallyhouse/backfill/pages.py). The period is the
-- request's start_date / end_date (epoch ms) as business days; the totals are the
-- response's items, one per currency (total_items, total_value). Which fetch of a period
-- and status is the latest, and the totals per currency, is int_platform_totals'.

{%- set issues = [] %}
{%- set item_value = json_text('i.value', 'total_value', 'value') %}
{%- set item_count = json_text('i.value', 'total_items') %}
{%- set item_currency = json_text('i.value', 'total_value', 'currency_code') %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('hotmart', 'hotmart_sales_summary')) }}
),

summaries as (
    select
        *,
        {{ json_object(json_get('body', 'request'), 'request', issues) }} as request,
        {{ json_object(json_get('body', 'response'), 'response', issues) }} as response
    from source
    where {{ reader_records(model.name, 'body') }}
),

with_items as (
    select
        *,
        {{ json_array(json_get('response', 'items'), 'response.items', issues) }} as items
    from summaries
),

with_totals as (
    select
        with_items.*,
        totals.*
    from with_items
    {% call join_json_aggregates('totals', 'with_items.items', 'i', {
                 'item_totals': {'kind': 'collect', 'order_by': 'i.position',
                     'value': json_object_of({
                         'currency_code': item_currency,
                         'total_items': safe_cast("nullif(" ~ item_count ~ ", '')", type_bigint()),
                         'total_value': money_value(item_value),
                     })},
                 'bad_values': {'kind': 'text', 'delimiter': "', '", 'value': item_value,
                     'where': 'not ' ~ is_money(item_value)},
                 'bad_counts': {'kind': 'text', 'delimiter': "', '", 'value': item_count,
                     'where': 'not ' ~ is_castable("nullif(" ~ item_count ~ ", '')",
                                                   type_bigint())},
                 'missing_currencies': {'kind': 'count',
                     'where': "nullif(" ~ item_currency ~ ", '') is null"},
             }) %}
        select
            {{ json_collect(json_object_of({
                'currency_code': item_currency,
                'total_items': safe_cast("nullif(" ~ item_count ~ ", '')", type_bigint()),
                'total_value': money_value(item_value),
            }), order_by='i.position') }} as item_totals,
            {{ text_agg(item_value, "', '", where='not ' ~ is_money(item_value)) }}
                as bad_values,
            {{ text_agg(item_count, "', '",
                        where='not ' ~ is_castable("nullif(" ~ item_count ~ ", '')",
                                                   type_bigint())) }} as bad_counts,
            {{ count_where("nullif(" ~ item_currency ~ ", '') is null") }}
                as missing_currencies
        from {{ json_elements('with_items.items', 'i', position=true) }}
    {% endcall %}
),

renamed as (
    select
        {{ record_lineage() }},
        'hotmart' as platform,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as fetched_at,
        {{ required(
            business_date(epoch_ms(json_text('request', 'start_date'), 'request.start_date',
                                   issues)),
            'request.start_date', issues, raw=json_text('request', 'start_date')
        ) }} as period_first_day,
        {{ required(
            business_date(epoch_ms(json_text('request', 'end_date'), 'request.end_date',
                                   issues)),
            'request.end_date', issues, raw=json_text('request', 'end_date')
        ) }} as period_last_day,
        {{ required("nullif(" ~ json_text('request', 'transaction_status') ~ ", '')",
                    'request.transaction_status', issues) }} as raw_status,
        {{ required('items', 'response.items', issues) }} is not null as has_totals,
        {%- do _record_issue(issues, 'response.items[].total_value.value', 'bad_values',
                             'bad_values is not null',
                             'an element is not an amount (at most 2 decimal places, up to the ceiling)') %}
        {%- do _record_issue(issues, 'response.items[].total_items', 'bad_counts',
                             'bad_counts is not null', 'an element is not a whole number') %}
        {%- do _record_issue(issues, 'response.items[].total_value.currency_code', 'null',
                             'missing_currencies > 0', 'missing in an element') %}
        -- [{currency_code, total_items, total_value}], one per currency; null when the
        -- answer holds no items list (a data issue: the record is left out)
        case
            when items is not null then coalesce(item_totals, {{ json_empty_array() }})
        end as totals,
        {{ data_issues_column(issues) }} as data_issues
    from with_totals
)

select * from renamed
