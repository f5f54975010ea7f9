-- One payout line: what a platform paid out for a transaction in a payout, joined to the
-- transaction it settles (transaction_key is null for a transaction no extract holds).

with

lines as (
    select * from {{ ref('stg_payouts__lines') }}
    where not is_superseded and payout_id is not null and platform is not null
),

transactions as (
    select
        transaction_key,
        platform,
        platform_transaction_id
    from {{ ref('fct_transactions') }}
)

select
    {{ dbt.hash('lines.record_hash') }} as payout_line_key,
    lines.payout_id,
    lines.platform,
    lines.payout_date,
    lines.line_type,
    lines.platform_transaction_id,
    transactions.transaction_key,
    lines.currency_code,
    lines.amount
from lines
left join transactions
    on
        lines.platform = transactions.platform
        and lines.platform_transaction_id = transactions.platform_transaction_id
