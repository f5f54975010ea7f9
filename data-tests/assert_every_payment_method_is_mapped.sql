-- A raw payment method no seed maps: payment_method is `unknown` in the marts.
-- Add the value to seeds/payment_method_mapping.csv.
{{ config(severity='warn', store_failures=true) }}

select
    platform,
    raw_payment_method,
    count(*) as events,
    min(platform_transaction_id) as example_transaction
from {{ ref('int_transaction_events_mapped') }}
where is_unmapped_payment_method
group by platform, raw_payment_method
