-- Integrity: every record landed in raw that a purchase event stream reads (its reader's
-- `records` in the registry, the rule its staging model reads by) is in the unified event
-- stream, or listed in rpt_data_issues as a record that could not be placed (no
-- transaction id or time), or staged and deliberately not a purchase event (the stream's
-- `where`: a Kiwify subscription cancellation). One row per record that is none of these.
-- On an incremental build the records loaded since the last build are checked
-- (checked_through); on a full refresh, every record.

{%- set through = checked_through() %}
{%- set streams = purchase_streams() %}

with

-- (union all: a record placed twice is still placed; deduplicating 1.8 million hashes
-- per parallel worker took most of this test's time at a million transactions)
placed_or_listed as (
    select
        platform,
        record_hash
    from {{ ref('int_transaction_events_unioned') }}
    -- a PIX event counts as loaded when its payment or its order was: never earlier
    where _load_seq > {{ through }}
    union all
    select
        source as platform,
        record_hash
    from {{ ref('rpt_data_issues') }}
    where
        record_left_out
        and read_by in (
            {%- for stream in streams %}
                '{{ stream.model }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
    {%- for stream in streams if stream.where %}
        union all
        select
            '{{ stream.platform }}' as platform,
            record_hash
        from {{ ref(stream.model) }}
        where
            _load_seq > {{ through }}
            and not coalesce(({{ stream.where }}), false)
    {%- endfor %}
),

-- raw's records of the streams' feeds, less those placed or listed (a join on the record
-- hash): only what is left is parsed, to see whether its stream reads it. On a build from
-- raw at a million transactions, 21–28 s when every payload was parsed first and the
-- hashes deduplicated, 4.3 s so.
unplaced as {{ materialized_hint() }} (
    select landed.*
    from (
        {%- for stream in streams %}
            {%- if not loop.first %}
                union all
            {%- endif %}
            select
                {{ loop.index }} as stream_number,
                '{{ stream.platform }}' as platform,
                {{ record_lineage(load_seq=false) }},
                payload
            from {{ raw_feed(stream.source, stream.feed) }}
            where _load_seq > {{ through }}
        {%- endfor %}
    ) as landed
    left join placed_or_listed
        on
            landed.platform = placed_or_listed.platform
            and landed.record_hash = placed_or_listed.record_hash
    where placed_or_listed.record_hash is null
)

select
    platform,
    record_hash,
    source_file,
    source_line
from unplaced
where
    {%- for stream in streams %}
        {{ 'or ' if not loop.first }}(
            stream_number = {{ loop.index }}
            and {{ records_filter(stream.records, 'payload', delivered=true) }}
        )
    {%- endfor %}
