-- The raw values of data issues that are about a person (a person field that arrived in
-- another shape, or a value holding an e-mail or a CPF / CNPJ): masked in
-- marts.rpt_data_issues, kept here for the few who may see identifiers (role
-- tallyhouse_restricted). One row per data issue, keyed like rpt_data_issues.

{%- set readers = data_issue_readers() %}

with

read_issues as (
    {%- for source_name, feed, model, entity, left_out in readers %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ source_name }}' as source,
            '{{ feed }}' as feed,
            records.source_file,
            records.source_line,
            records.record_hash,
            cast(records.{{ entity }} as {{ type_text() }}) as entity_id,
            {{ json_text('issue.value', 'field') }} as field,
            {{ json_text('issue.value', 'value') }} as raw_value,
            {{ json_text('issue.value', 'reason') }} as reason
        from {{ ref(model) }} as records
        {{ join_json_elements('records.data_issues', 'issue') }}
        where {{ has_data_issues('records.data_issues') }}
    {%- endfor %}
),

final as (
    select distinct
        {{ dbt.hash(
            "record_hash || ':' || coalesce(entity_id, '') || ':' || field || ':' || reason"
        ) }} as data_issue_key,
        source,
        feed,
        source_file,
        source_line,
        field,
        raw_value,
        reason
    from read_issues
    where {{ is_person_data('field', 'raw_value') }}
)

select * from final
