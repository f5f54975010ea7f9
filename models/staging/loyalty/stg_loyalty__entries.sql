with

source as (
    select * from {{ source('loyalty', 'loyalty_entries') }}
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        entry_id,
        account_id,
        entry_type,
        points::bigint as points,
        nullif(vendor_id, '') as vendor_id,
        nullif(vendor_kind, '') as vendor_kind,
        nullif(redemption_order_number, '') as redemption_order_number,
        nullif(authorization_id, '') as authorization_id,
        nullif(external_transaction_id, '') as external_transaction_id,
        occurred_at::timestamptz as occurred_at
    from source
)

select * from renamed
