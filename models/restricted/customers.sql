-- The identifiers behind dim_customers' pseudonymous customer_key, for the few who may see
-- them (role tallyhouse_restricted). E-mail, and the name and document of the latest
-- transaction that carries them.

{{ config(materialized='incremental', unique_key='customer_key',
          incremental_strategy=replace_by_key(), partition_by=key_buckets(),
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['customer_key']}],
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

-- on an incremental build, the customers of the transactions computed again since the
-- last build, whole; materialized then (read twice, found once); on a full build read twice
transactions as {{ materialized_hint(is_incremental()) }} (
    {{ rows_of_touched_customers(ref('int_transactions'),
                                ['customer_email', 'customer_name', 'customer_document',
                                 'ordered_at']) }}
),

customer_keys as {{ materialized_hint() }} (
    {{ customer_keys_of('transactions') }}
),

keyed as (
    select
        customer_keys.customer_key,
        lower(trim(transactions.customer_email)) as email,
        transactions.customer_name,
        transactions.customer_document,
        transactions.ordered_at
    from transactions
    inner join customer_keys
        on {{ customer_identity('transactions.customer_email') }} = customer_keys.email
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
        {{ max_where('customer_name', 'customer_name is not null and name_recency = 1') }}
            as name,
        {{ max_where('customer_document',
                     'customer_document is not null and document_recency = 1') }}
            as document,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from ranked
    group by customer_key
)

select * from final
