with

source as (
    select * from {{ source('redemptions', 'redemption_orders') }}
),

renamed as (
    select
        order_number,
        company_id,
        company_name,
        loyalty_account_id as account_id,
        account_manager_id,
        account_manager_email,
        account_manager_name,
        total_points::bigint as total_points,
        status as order_status,
        created_at::timestamptz as created_at,
        nullif(completed_at, '')::timestamptz as completed_at
    from source
)

select * from renamed
