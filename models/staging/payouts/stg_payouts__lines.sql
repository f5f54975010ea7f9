with

source as (
    select * from {{ source('payouts', 'payout_lines') }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        payout_id,
        platform,
        payout_date::date as payout_date,
        line_type,
        platform_transaction_id,
        currency_code,
        amount::numeric(18, 2) as amount
    from source
)

select * from renamed
