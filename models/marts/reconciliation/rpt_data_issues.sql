-- Every value that could not be read, one row per record and field: a value that does not
-- cast, an object or array of another type, a key missing, a re-exported record set
-- aside. Rows in raw whose fields were all read are not here; quarantined records (not
-- even JSON / CSV) are in raw._quarantine.

-- Incremental by feed: a row comes from one record of one feed and depends on nothing else,
-- so a build computes again, whole, the rows of the feeds that loaded records since the
-- last build (the pre-hook forgets their old rows) and keeps the rest. Records are only
-- ever added to raw between full passes (a rewrite or erasure of raw makes the next build
-- a full pass).
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          pre_hook="{{ forget_rows_of_feeds(feeds_loaded_since_build()) }}",
          post_hook="{{ record_raw_watermark(landed_feed_relations()) }}") }}

{%- set readers = data_issue_readers() %}
{%- set superseding = reexport_readers() | map(attribute=1) | list %}
{#- on an incremental build, the feeds whose rows are computed again; all of them otherwise -#}
{%- set feeds = feeds_loaded_since_build() if is_incremental() else none %}

with

read_issues as (
    {%- for source_name, feed, model, entity, left_out in readers %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ source_name }}' as source,
            '{{ feed }}' as feed,
            '{{ model }}' as read_by,
            records.source_file,
            records.source_line,
            records.record_hash,
            cast(records.{{ entity }} as {{ type_text() }}) as entity_id,
            {{ json_text('issue.value', 'field') }} as field,
            {{ json_text('issue.value', 'value') }} as raw_value,
            {{ json_text('issue.value', 'reason') }} as reason,
            ({{ left_out }}) as record_left_out
        from {{ ref(model) }} as records
        {{ join_json_elements('records.data_issues', 'issue') }}
        where
            {{ 'false and' if feeds is not none and feed not in feeds }}
            {{ has_data_issues('records.data_issues') }}
    {%- endfor %}
),

superseded as (
    {%- for source_name, feed, model, entity, left_out in readers
        if model in superseding %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ source_name }}' as source,
            '{{ feed }}' as feed,
            '{{ model }}' as read_by,
            source_file,
            source_line,
            record_hash,
            cast({{ entity }} as {{ type_text() }}) as entity_id,
            '{{ entity }}' as field,
            cast({{ entity }} as {{ type_text() }}) as raw_value,
            superseded_because as reason,
            true as record_left_out
        from {{ ref(model) }}
        where
            {{ 'false and' if feeds is not none and feed not in feeds }}
            is_superseded and not is_duplicate and {{ entity }} is not null
    {%- endfor %}
),

unread as (
    select
        source,
        feed,
        'stg_platforms__unread_records' as read_by,
        source_file,
        source_line,
        record_hash,
        cast(null as {{ type_text() }}) as entity_id,
        field,
        raw_value,
        'a kind of record no model reads (kept in raw only)' as reason,
        true as record_left_out
    from {{ ref('stg_platforms__unread_records') }}
    {%- if feeds is not none %}
        where feed in ('{{ feeds | join("', '") }}')
    {%- endif %}
),

unioned as (
    select * from read_issues
    union all
    select * from superseded
    union all
    select * from unread
),

final as (
    select
        {{ dbt.hash(
            "record_hash || ':' || coalesce(entity_id, '') || ':' || field || ':' || reason"
        ) }} as data_issue_key,
        source,
        feed,
        read_by,
        source_file,
        source_line,
        record_hash,
        entity_id,
        field,
        -- a person's identifier never reaches a mart, even inside a value that could not be
        -- read: restricted.person_data_issues keeps it (macros/data_issues.sql)
        case
            when {{ is_person_data('field', 'raw_value') }} then {{ masked_person_value() }}
            else raw_value
        end as raw_value,
        reason,
        record_left_out
    from unioned
)

select * from final
