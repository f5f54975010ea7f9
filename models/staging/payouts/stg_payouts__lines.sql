{%- set issues = [] %}

with

source as (
    select * from {{ source('payouts', 'payout_lines') }}
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

ranked as (
    select
        *,
        -- a line re-exported with other bytes (23.280 for 23.28) counts once
        {{ superseded_columns(
            ['payout_id', 'platform', 'coalesce(platform_transaction_id, record_hash)',
             'line_type'],
            ['payout_date', 'currency_code', 'amount']
        ) }}
    from renamed
)

select * from ranked
