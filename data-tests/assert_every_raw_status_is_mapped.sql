-- A raw status no seed maps: the transaction shows status `unknown` in the marts.
-- Add the value to seeds/platform_status_mapping.csv.
{{ config(severity='warn', store_failures=true) }}

select
    platform,
    raw_status,
    count(*) as events,
    min(platform_transaction_id) as example_transaction
from {{ ref('int_transaction_events_mapped') }}
where is_unmapped_status
group by platform, raw_status
