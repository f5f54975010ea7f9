-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change. The lines
-- loaded since a mart's last build are found by the index on _load_seq.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns', indexes=[{'columns': ['_load_seq']}]) }}

{%- set issues = [] %}

with

source as (
    {{ raw_rows(source('payouts', 'payout_lines')) }}
),

renamed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(payout_id, '')", 'payout_id', issues) }} as payout_id,
        {{ required("nullif(platform, '')", 'platform', issues) }} as platform,
        {{ date_value('payout_date', 'payout_date', issues) }} as payout_date,
        {{ one_of('line_type', ['sale', 'refund', 'chargeback'], 'line_type', issues) }}
            as line_type,
        nullif(platform_transaction_id, '') as platform_transaction_id,
        currency_code,
        {{ expected(money('amount', 'amount', issues), 'amount', issues,
                    raw="nullif(amount, '')") }} as amount,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

-- a line re-exported with other bytes (23.280 for 23.28) counts once
ranked as (
    {{ with_superseded_columns(
        'renamed',
        ['payout_id', 'platform', 'coalesce(platform_transaction_id, record_hash)', 'line_type'],
        ['payout_date', 'currency_code', 'amount']
    ) }}
)

select * from ranked
