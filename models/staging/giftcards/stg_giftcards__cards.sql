with

source as materialized (
    {{ raw_payloads(source('giftcards', 'giftcard_cards')) }}
),

renamed as (
    select
        body ->> 'id' as card_id,
        body ->> 'redemptionCode' as redemption_code,
        lower(body ->> 'relationName') as customer_email,
        (body ->> 'emissionDate')::timestamp at time zone 'UTC' as issued_at,
        (body ->> 'expiringDate')::timestamp at time zone 'UTC' as expires_at,
        body ->> 'caption' as caption,
        body ->> 'currencyCode' as currency_code
    from source
)

select * from renamed
