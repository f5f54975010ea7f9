-- The last status change of a transaction is its current status.

select
    transactions.transaction_key,
    transactions.status as current_status,
    history.status as last_change_status
from {{ ref('fct_transactions') }} as transactions
inner join {{ ref('fct_transaction_status_history') }} as history
    on transactions.transaction_key = history.transaction_key and history.is_current
where transactions.status <> history.status
