{{ config(materialized='table') }}

-- The platforms' own totals (sales/summary of Hotmart and MyEduzz, `tallyhouse backfill`):
-- the LATEST fetch of each period and status, one row per platform, period, status and
-- currency (an answer with no sale in any currency: one row with no currency and zero
-- totals, so that the marts' sales of that status and period still have a figure to meet).
--
-- A summary fetched again unchanged is the same bytes: the loaders land it once, under the
-- name of the file that first delivered it, and the later file is a duplicate_file in the
-- manifest (duplicate_of_file_id). The fetch time is in each file's name, so a record's
-- last fetch is the latest name among its file and the files that repeated it: an answer
-- that went back to an earlier value (APPROVED, REFUNDED, APPROVED again) is still the
-- latest. Records left out by staging (a period, status or total unreadable: a data issue)
-- take no part.

{%- set readers = [
    ('hotmart_sales_summary', 'stg_hotmart__sales_summary',
     'totals is not null'),
    ('eduzz_sales_summary', 'stg_eduzz__sales_summary',
     'total_value is not null'),
] %}

with

fetches as (
    -- every delivery of a summary record: its first file, or a later one that repeated it
    select
        delivered.feed,
        holder.file_name as holder_file_name,
        {{ api_fetched_at('delivered.file_name', []) }} as fetched_at
    from {{ source('raw', '_manifest') }} as delivered
    inner join {{ source('raw', '_manifest') }} as holder
        on holder.file_id = coalesce(delivered.duplicate_of_file_id, delivered.file_id)
    where
        delivered.feed in ('hotmart_sales_summary', 'eduzz_sales_summary')
        and delivered.status in ('loaded', 'duplicate_file')
),

summaries as (
    {%- for feed, model, readable in readers %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ feed }}' as feed,
            record_hash,
            source_file,
            platform,
            period_first_day,
            period_last_day,
            raw_status,
            fetched_at
        from {{ ref(model) }}
        where
            fetched_at is not null
            and period_first_day is not null
            and period_last_day is not null
            and raw_status is not null
            and {{ readable }}
    {%- endfor %}
),

last_fetched as (
    select
        summaries.feed,
        summaries.record_hash,
        summaries.platform,
        summaries.period_first_day,
        summaries.period_last_day,
        summaries.raw_status,
        coalesce(max(fetches.fetched_at), max(summaries.fetched_at)) as fetched_at
    from summaries
    left join fetches
        on
            summaries.feed = fetches.feed
            and summaries.source_file = fetches.holder_file_name
    group by
        summaries.feed, summaries.record_hash, summaries.platform,
        summaries.period_first_day, summaries.period_last_day, summaries.raw_status
),

latest as (
    {{ first_per_key('last_fetched',
                     'platform, period_first_day, period_last_day, raw_status',
                     order_by='fetched_at desc, record_hash') }}
),

hotmart_items as (
    select
        latest.record_hash,
        {{ json_text('item.value', 'currency_code') }} as currency_code,
        {{ safe_cast(json_text('item.value', 'total_items'), type_bigint()) }}
            as total_items,
        {{ safe_cast(json_text('item.value', 'total_value'), type_money()) }}
            as total_value
    from latest
    inner join {{ ref('stg_hotmart__sales_summary') }} as summary
        on latest.record_hash = summary.record_hash
    {{ join_json_elements('summary.totals', 'item') }}
    where latest.feed = 'hotmart_sales_summary'
),

totals as (
    select * from hotmart_items
    union all
    -- a Hotmart answer with no item: nothing of that status in any currency
    select
        latest.record_hash,
        cast(null as {{ type_text() }}) as currency_code,
        cast(0 as {{ type_bigint() }}) as total_items,
        cast(0 as {{ type_money() }}) as total_value
    from latest
    inner join {{ ref('stg_hotmart__sales_summary') }} as summary
        on latest.record_hash = summary.record_hash
    where {{ json_equals('summary.totals', json_empty_array()) }}
    union all
    -- MyEduzz answers one currency and no count
    select
        latest.record_hash,
        summary.currency_code,
        cast(null as {{ type_bigint() }}) as total_items,
        summary.total_value
    from latest
    inner join {{ ref('stg_eduzz__sales_summary') }} as summary
        on latest.record_hash = summary.record_hash
)

select
    {{ surrogate_key(['latest.platform', 'latest.period_first_day', 'latest.period_last_day',
                      'latest.raw_status', 'totals.currency_code']) }} as platform_total_key,
    latest.platform,
    latest.period_first_day,
    latest.period_last_day,
    latest.raw_status,
    totals.currency_code,
    totals.total_items,
    totals.total_value,
    latest.fetched_at,
    latest.record_hash
from latest
inner join totals on latest.record_hash = totals.record_hash
