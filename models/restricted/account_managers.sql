-- The identifiers behind fct_redemption_orders' pseudonymous account_manager_key.

with

orders as (
    select * from {{ ref('stg_redemptions__orders') }}
),

keyed as (
    select
        {{ person_key('account_manager_email') }} as account_manager_key,
        account_manager_id,
        lower(trim(account_manager_email)) as email,
        account_manager_name,
        row_number() over (
            partition by
                lower(trim(account_manager_email)), account_manager_name is null
            order by created_at desc
        ) as name_recency
    from orders
    where account_manager_email is not null
),

final as (
    select
        account_manager_key,
        min(account_manager_id) as account_manager_id,
        min(email) as email,
        {{ max_where('account_manager_name',
                     'account_manager_name is not null and name_recency = 1') }} as name
    from keyed
    where account_manager_key is not null
    group by account_manager_key
)

select * from final
