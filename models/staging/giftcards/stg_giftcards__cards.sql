{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('giftcards', 'giftcard_cards')) }}
),

renamed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(" ~ json_text('body', 'id') ~ ", '')", 'id', issues) }} as card_id,
        {{ json_text('body', 'redemptionCode') }} as redemption_code,
        lower({{ json_text('body', 'relationName') }}) as customer_email,
        {{ timestamp(json_text('body', 'emissionDate'), 'emissionDate', issues) }}
            as issued_at,
        {{ timestamp(json_text('body', 'expiringDate'), 'expiringDate', issues) }}
            as expires_at,
        {{ json_text('body', 'caption') }} as caption,
        {{ json_text('body', 'currencyCode') }} as currency_code,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    select
        *,
        -- a re-exported record (same id, other bytes) is kept once, the first delivered
        {{ superseded_columns(
            ['card_id'],
            ['customer_email', 'currency_code', 'issued_at', 'expires_at']
        ) }}
    from renamed
)

select * from ranked
