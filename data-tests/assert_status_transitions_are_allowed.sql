-- Every status change is an allowed transition of seed 001's state diagram (+ extensions).
{{ config(severity='warn') }}

select
    transaction_key,
    platform,
    platform_transaction_id,
    previous_status,
    status,
    changed_at
from {{ ref('fct_transaction_status_history') }}
where not is_valid_transition
