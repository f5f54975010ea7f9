-- One customer across platforms: the same e-mail is the same customer. Pseudonymous: the
-- e-mail, name and document are in restricted.customers, under the same customer_key.

{{ config(materialized='incremental', unique_key='customer_key',
          incremental_strategy=replace_by_key(), on_schema_change='append_new_columns',
          indexes=[{'columns': ['customer_key']}],
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

-- on an incremental build, the customers of the transactions computed again since the
-- last build, whole; materialized then: the person key is computed for these rows only
transactions as {{ materialized_hint() if is_incremental() }} (
    {{ rows_of_touched_customers(ref('int_transactions')) }}
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
        {{ array_of_distinct('platform') }} as platforms,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as transactions
    from keyed
    where customer_key is not null
    group by customer_key
)

select * from final
