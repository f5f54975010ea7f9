{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          post_hook="{{ record_raw_watermark(unread_feed_relations()) }}") }}

-- Platform records of a kind that no staging model reads (an API response dropped into a
-- webhook folder, an event type tallyhouse does not know): they stay in raw and are listed
-- in rpt_data_issues, so that no delivered record is out of sight. Which feeds may carry
-- such records, which records each staging model reads and which are deliberately ignored
-- (Hotmart's member-area events, CLUB_*, carry no money) is the registry's (`unread`,
-- `records`: dbt_project.yml). Few raw rows end up here, so how far the model has read is
-- kept in the watermarks table (record_raw_watermark).

{%- set feeds = unread_feeds() %}

with

{% for feed in feeds %}
    {{ feed.name }} as (
        {{ raw_payloads(
            raw_feed(feed.source, feed.name), since=watermark(),
            filter=unread_records(feed, 'payload', delivered=true)
        ) }}
    ),

{% endfor %}
unioned as (
    {%- for feed in feeds %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ feed.source }}' as source,
            '{{ feed.name }}' as feed,
            '{{ feed.unread.field }}' as field,
            {{ json_text('body', feed.unread.field) }} as raw_value,
            *
        from {{ feed.name }}
    {%- endfor %}
)

select
    {{ record_lineage() }},
    source,
    feed,
    field,
    raw_value
from unioned
