-- One customer across platforms: the same e-mail is the same customer. Pseudonymous: the
-- e-mail, name and document are in restricted.customers, under the same customer_key.

with

transactions as (
    select * from {{ ref('int_transactions') }}
),

keyed as (
    select
        {{ person_key('customer_email') }} as customer_key,
        platform,
        ordered_at
    from transactions
    where customer_email is not null
),

final as (
    select
        customer_key,
        array_agg(distinct platform order by platform) as platforms,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as transactions
    from keyed
    where customer_key is not null
    group by customer_key
)

select * from final
