-- Status changes in event-time order (not arrival order). Repeated reports of the same
-- status are one change; each change is checked against the allowed transitions.
-- Incremental: the history of every transaction with an event loaded since the last
-- build (by load number) is computed again, whole, and replaces the old one.
{{ config(materialized='incremental', unique_key='transaction_key',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}]) }}

with

all_events as (
    select * from {{ ref('int_transaction_events_mapped') }}
),

{% if is_incremental() %}
    touched as (
        {{ touched_transactions(ref('int_transaction_events_mapped')) }}
    ),
{% endif %}

events as (
    {{ rows_of_touched('all_events', 'transaction_key') }}
),

transitions as (
    select * from {{ ref('transaction_status_transitions') }}
),

ordered as (
    select
        transaction_key,
        platform,
        platform_transaction_id,
        status,
        raw_status,
        refund_kind,
        event_at,
        source_event_id,
        record_hash,
        event_name,
        lag(status) over event_order as reported_previous_status,
        row_number() over event_order as event_sequence,
        max(_load_seq) over (partition by transaction_key) as last_load_seq
    from events
    window event_order as (
        partition by transaction_key
        order by event_at, lifecycle_rank, record_hash
    )
),

changes as (
    select * from ordered
    where reported_previous_status is null or reported_previous_status <> status
),

sequenced as (
    select
        *,
        lag(status) over (partition by transaction_key order by event_sequence)
            as previous_status,
        row_number() over (partition by transaction_key order by event_sequence)
            as change_number,
        count(*) over (partition by transaction_key) as change_count
    from changes
),

checked as (
    select
        sequenced.*,
        transitions.to_status is not null as is_valid_transition
    from sequenced
    left join transitions
        on
            coalesce(sequenced.previous_status, 'start') = transitions.from_status
            and sequenced.status = transitions.to_status
)

select
    {{ surrogate_key(['transaction_key', 'change_number']) }} as status_change_key,
    transaction_key,
    platform,
    platform_transaction_id,
    change_number,
    change_number = change_count as is_current,
    status,
    previous_status,
    raw_status,
    refund_kind,
    event_at as changed_at,
    source_event_id,
    record_hash as source_record_hash,
    event_name,
    is_valid_transition,
    last_load_seq
from checked
