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

-- A build from raw tests the readers' rules only on the records none of the feed's staging
-- tables holds (a staged record is one its reader read, so the result is the same): at a
-- million transactions, 22.0 s parsing every payload, 1.7 s joining on record hashes and
-- parsing what is left (the ignored member-area events, the unread). A daily build reads
-- the few records loaded since, as they are, and so does a build of this model alone
-- before its readers' tables exist. (Built alone after a change of the readers' rules, it
-- would join to tables made under the old ones: a change of the project rebuilds every
-- model, readers first.)

{%- set feeds = unread_feeds() %}
{%- set since = watermark() %}

with

{% for feed in feeds %}
    {#- the readers' staging tables, when every one of them is there to join to -#}
    {%- set staged = [] %}
    {%- for reader in feed.readers %}
        {%- set relation = ref(reader.model) %}
        {%- if not execute or load_relation(relation) is not none %}
            {%- do staged.append(relation) %}
        {%- endif %}
    {%- endfor %}
    {%- if is_incremental() or staged | length < feed.readers | length %}
        {%- set rows = raw_feed(feed.source, feed.name) %}
    {%- else %}
        {%- set rows = feed.name ~ '_unstaged' %}
        {{ feed.name }}_unstaged as {{ materialized_hint() }} (
            select *
            from {{ raw_feed(feed.source, feed.name) }} as landed
            where
                true
                {%- for relation in staged %}
                    and not exists (
                        select 1
                        from {{ relation }} as staged
                        where staged.record_hash = {{ bytes_to_hex('landed._record_hash') }}
                    )
                {%- endfor %}
        ),

    {%- endif %}

    {{ feed.name }} as (
        {{ raw_payloads(
            rows, since=since, filter=unread_records(feed, 'payload', delivered=true)
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
