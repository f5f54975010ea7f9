-- Every status change is an allowed transition of seed 001's state diagram (+ extensions).
-- Changes to or from `unknown` are left to assert_every_raw_status_is_mapped.
{{ config(severity='warn', store_failures=true) }}

select
    transaction_key,
    platform,
    platform_transaction_id,
    previous_status,
    status,
    changed_at
from {{ ref('fct_transaction_status_history') }}
where
    not is_valid_transition
    and status <> 'unknown'
    and coalesce(previous_status, 'start') <> 'unknown'
