-- A view: a projection of the incremental int_transaction_status_changes, so a daily run
-- rebuilds nothing here (the table below recomputes only the touched transactions).
{{ config(materialized='view') }}

with

changes as (
    select * from {{ ref('int_transaction_status_changes') }}
)

select
    status_change_key,
    transaction_key,
    platform,
    platform_transaction_id,
    change_number,
    status,
    previous_status,
    raw_status,
    changed_at,
    source_event_id,
    source_record_hash,
    event_name,
    -- a sales API snapshot: changed_at is when the sale was fetched in that state
    is_snapshot,
    is_valid_transition,
    is_current
from changes
