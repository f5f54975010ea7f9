-- One customer across platforms: the same e-mail is the same customer. Pseudonymous: the
-- e-mail, name and document are in restricted.customers, under the same customer_key.

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
                                ['customer_email', 'platform', 'ordered_at']) }}
),

customer_keys as {{ materialized_hint() }} (
    {{ customer_keys_of('transactions') }}
),

keyed as (
    select
        customer_keys.customer_key,
        transactions.platform,
        transactions.ordered_at
    from transactions
    inner join customer_keys
        on {{ customer_identity('transactions.customer_email') }} = customer_keys.email
),

final as (
    select
        customer_key,
        {{ array_of_distinct('platform') }} as platforms,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as transactions
    from keyed
    where customer_key is not null
    group by customer_key
)

select * from final
