-- Integrity from raw to marts: every transaction staged from a platform payload is in
-- fct_transactions, and its money is the same, per platform and currency.

with

staged as (
    select
        platform,
        platform_transaction_id,
        currency_code,
        offer_price
    from (
        select
            *,
            row_number() over (
                partition by platform, platform_transaction_id
                order by event_at desc, record_hash desc
            ) as recency
        from {{ ref('int_transaction_events_unioned') }}
    ) as latest
    where recency = 1
),

staged_totals as (
    select
        platform,
        currency_code,
        count(*) as transactions,
        sum(offer_price) as offer_price
    from staged
    group by platform, currency_code
),

mart_totals as (
    select
        platform,
        currency_code,
        count(*) as transactions,
        sum(offer_price) as offer_price
    from {{ ref('fct_transactions') }}
    group by platform, currency_code
)

select
    coalesce(staged_totals.platform, mart_totals.platform) as platform,
    coalesce(staged_totals.currency_code, mart_totals.currency_code) as currency_code,
    staged_totals.transactions as staged_transactions,
    mart_totals.transactions as mart_transactions,
    staged_totals.offer_price as staged_offer_price,
    mart_totals.offer_price as mart_offer_price
from staged_totals
full outer join mart_totals
    on
        staged_totals.platform = mart_totals.platform
        and staged_totals.currency_code = mart_totals.currency_code
where
    staged_totals.transactions is distinct from mart_totals.transactions
    or staged_totals.offer_price is distinct from mart_totals.offer_price
