-- The identifiers behind dim_customers' pseudonymous customer_key, for the few who may see
-- them (role tallyhouse_restricted). E-mail, and the name and document of the latest
-- transaction that carries them.

{{ config(materialized='incremental', unique_key='customer_key',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          indexes=[{'columns': ['customer_key']}],
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

{% if is_incremental() %}
    -- the customers of the transactions computed again since the last build, whole
    touched as (
        select distinct nullif(lower(trim(customer_email)), '') as email
        from {{ ref('int_transactions') }}
        where last_load_seq > {{ watermark() }}
    ),

    -- materialized: the person key is then computed for these rows only
    transactions as materialized (
        select all_transactions.*
        from {{ ref('int_transactions') }} as all_transactions
        inner join touched
            on nullif(lower(trim(all_transactions.customer_email)), '') = touched.email
    ),
{% else %}
    transactions as (
        select * from {{ ref('int_transactions') }}
    ),
{% endif %}

keyed as (
    select
        {{ person_key('customer_email') }} as customer_key,
        lower(trim(customer_email)) as email,
        customer_name,
        customer_document,
        ordered_at
    from transactions
    where customer_email is not null
),

ranked as (
    select
        customer_key,
        email,
        customer_name,
        customer_document,
        ordered_at,
        row_number() over (
            partition by customer_key, customer_name is null order by ordered_at desc
        ) as name_recency,
        row_number() over (
            partition by customer_key, customer_document is null order by ordered_at desc
        ) as document_recency
    from keyed
    where customer_key is not null
),

final as (
    select
        customer_key,
        min(email) as email,
        max(customer_name) filter (
            where customer_name is not null and name_recency = 1
        ) as name,
        max(customer_document) filter (
            where customer_document is not null and document_recency = 1
        ) as document,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from ranked
    group by customer_key
)

select * from final
