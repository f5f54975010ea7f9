-- One payout line: what a platform paid out for a transaction in a payout, joined to the
-- transaction it settles (transaction_key is null for a transaction no extract holds).

-- Incremental by payout line. A delivered line is in the mart or superseded for good (a
-- re-export loaded later never displaces the line delivered first), so a build adds the
-- lines loaded since the last one; what can change for a line already here is its
-- transaction (null until an extract holds it): the lines of the transactions recomputed
-- since the last build are forgotten (pre-hook) and read again.
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['platform_transaction_id']}, {'columns': ['payout_date']}],
          pre_hook="{{ forget_payout_lines_of_touched_transactions() }}",
          post_hook="{{ record_raw_watermark([source('payouts', 'payout_lines')],
                                             built_from=[ref('int_transactions')]) }}") }}

with

lines as (
    select * from {{ ref('stg_payouts__lines') }}
    where
        not is_superseded
        and payout_id is not null
        and platform is not null
    {% if is_incremental() %}
        and (
            _load_seq > {{ watermark() }}
            or (platform, platform_transaction_id) in (
                {{ touched_transactions_since_build(
                    columns=['platform', 'platform_transaction_id']) }}
            )
        )
    {% endif %}
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
