-- One customer across platforms: the same e-mail is the same customer.

with

transactions as (
    select * from {{ ref('int_transactions') }}
),

ranked as (
    select
        md5(customer_email) as customer_key,
        customer_email,
        customer_name,
        customer_document,
        platform,
        ordered_at,
        row_number() over (partition by customer_email order by ordered_at desc) as recency
    from transactions
    where customer_email is not null
),

final as (
    select
        customer_key,
        customer_email as email,
        max(customer_name) filter (where recency = 1) as name,
        max(customer_document) filter (where recency = 1) as document,
        array_agg(distinct platform order by platform) as platforms,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as transactions
    from ranked
    group by customer_key, customer_email
)

select * from final
