{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(source('giftcards', 'giftcard_cards')) }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        {{ required("nullif(body ->> 'id', '')", 'id', issues) }} as card_id,
        body ->> 'redemptionCode' as redemption_code,
        lower(body ->> 'relationName') as customer_email,
        {{ timestamp("body ->> 'emissionDate'", 'emissionDate', issues) }} as issued_at,
        {{ timestamp("body ->> 'expiringDate'", 'expiringDate', issues) }} as expires_at,
        body ->> 'caption' as caption,
        body ->> 'currencyCode' as currency_code,
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
