-- Events with their normalized status and payment method (through the seeds), one row per
-- platform event and transaction: a webhook redelivered under the same event id counts
-- once in its transaction. A delivery under an event id another transaction already has
-- is that transaction's event (the file reconciliation lists the id as conflicting): no
-- delivery takes an event away from another transaction, so a transaction never loses
-- an event it had — an incremental build recomputes the transactions it touched, and none
-- other can change.

-- Incremental on the transactions an event was loaded for since the last build: their
-- events are read again, whole, from the staging tables (by index, through the
-- purchase_events macro that int_transaction_events_unioned is made of) and replace the
-- old rows. An event id's deliveries are counted wherever they are (`deliveries`), so the
-- transactions holding another delivery of a new event are touched too, and every
-- delivery of the touched transactions' event ids is counted.
-- The streams (purchase_streams(): the registry in dbt_project.yml) are read only on an
-- incremental build, which dbt does not see while parsing: their relations are named here.
{%- for name in purchase_stream_relations() %}
-- depends_on: {{ ref(name) }}
{%- endfor %}
{{ config(materialized='incremental', unique_key='transaction_key',
          incremental_strategy=replace_by_key(), on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['transaction_key']}],
          post_hook="{{ partial_index('platform, source_event_id', 'deliveries > 1') }}") }}

with

{% if is_incremental() %}
    {#- a constant, not a subquery: the planner then knows how few rows are new -#}
    {%- set since = -1 %}
    {%- if execute %}
        {%- set since = run_query("select coalesce(max(_load_seq), -1) from " ~ this)
            .columns[0].values()[0] %}
    {%- endif %}
    new_deliveries as (
        {%- for stream in purchase_streams() %}
            {%- if not loop.first %}
                union all
            {%- endif %}
            select
                platform,
                platform_transaction_id,
                source_event_id
            from {{ ref(stream.model) }}
            where _load_seq > {{ since }}
            {%- if stream.touched_by %}
                union all
                -- a {{ stream.touched_by.model }} row changes the events of its transaction
                select
                    events.platform,
                    events.platform_transaction_id,
                    events.source_event_id
                from {{ ref(stream.model) }} as events
                inner join {{ ref(stream.touched_by.model) }} as touching
                    on events.platform_transaction_id = touching.{{ stream.touched_by.key }}
                where touching._load_seq > {{ since }}
            {%- endif %}
        {%- endfor %}
    ),

    redelivered as (
        {{ purchase_events(event_ids='new_deliveries') }}
    ),

    touched as (
        select
            platform,
            platform_transaction_id
        from new_deliveries
        union
        select
            platform,
            platform_transaction_id
        from redelivered
    ),

    touched_events as (
        {{ purchase_events(transactions='touched') }}
    ),

    touched_event_ids as (
        select distinct
            platform,
            source_event_id
        from touched_events
    ),

    -- every delivery of their event ids, in any transaction: counted, never chosen from
    deliveries_of_their_event_ids as (
        {{ purchase_events(event_ids='touched_event_ids') }}
    ),

    -- one list, no join: a join with the touched set is estimated at one row, and planned
    -- as such (a merge join that compared 225 million pairs at a million transactions)
    events as (
        select
            *,
            true as is_of_touched
        from touched_events
        union all
        select
            *,
            false as is_of_touched
        from deliveries_of_their_event_ids
    ),
{% else %}
    events as (
        select
            *,
            true as is_of_touched
        from {{ ref('int_transaction_events_unioned') }}
    ),
{% endif %}

status_mapping as (
    select * from {{ ref('platform_status_mapping') }}
),

method_mapping as (
    select * from {{ ref('payment_method_mapping') }}
),

statuses as (
    select * from {{ ref('transaction_statuses') }}
),

-- an event without an id (a store payment snapshot without a status) is its record: it
-- is never taken for another delivery of anything
{%- set event_identity = "coalesce(source_event_id, 'record:' || record_hash)" %}

deduplicated as (
    select
        *,
        row_number() over (
            partition by platform, {{ event_identity }}, platform_transaction_id, is_of_touched
            order by record_hash
        ) as delivery_number,
        -- how many times the event id was delivered, in any transaction (the file
        -- reconciliation compares the versions of the ones delivered more than once); on
        -- an incremental build, counted in every delivery of the id read again (the
        -- flagged rows are among them), at least the event itself for one without an id
        {% if is_incremental() -%}
            greatest(
                1,
                sum(case when is_of_touched then 0 else 1 end)
                    over (partition by platform, {{ event_identity }})
            )
        {%- else -%}
            count(*) over (partition by platform, {{ event_identity }})
        {%- endif %} as deliveries
    from events
),

mapped as (
    select
        {{ transaction_key('deduplicated.platform', 'deduplicated.platform_transaction_id') }}
            as transaction_key,
        {%- for column in purchase_event_columns() + ['refund_amount', 'is_snapshot',
                                                       'delivery_number', 'deliveries'] %}
            deduplicated.{{ column }},
        {%- endfor %}
        coalesce(status_mapping.status_code, 'unknown') as status,
        status_mapping.status_code is null as is_unmapped_status,
        status_mapping.refund_kind,
        coalesce(method_mapping.payment_method, 'unknown') as payment_method,
        method_mapping.payment_method is null as is_unmapped_payment_method,
        coalesce(statuses.lifecycle_rank, 0) as lifecycle_rank
    from deduplicated
    left join status_mapping
        on
            deduplicated.platform = status_mapping.platform
            and deduplicated.raw_status = status_mapping.raw_status
    left join method_mapping
        on
            deduplicated.platform = method_mapping.platform
            and deduplicated.raw_payment_method = method_mapping.raw_method
    left join statuses
        on coalesce(status_mapping.status_code, 'unknown') = statuses.status_code
    where deduplicated.delivery_number = 1 and deduplicated.is_of_touched
)

select * from mapped
