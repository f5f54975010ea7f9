-- Every value that could not be read, one row per record and field: a value that does not
-- cast, an object or array of another type, a key missing, a re-exported record set
-- aside. Rows in raw whose fields were all read are not here; quarantined records (not
-- even JSON / CSV) are in raw._quarantine.

{%- set readers = data_issue_readers() %}
{%- set superseding = reexport_readers() | map(attribute=1) | list %}

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
        where {{ has_data_issues('records.data_issues') }}
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
        where is_superseded and not is_duplicate and {{ entity }} is not null
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
