-- The latest snapshot of each store order: totals, gift-card part, shipping state.
{{ config(indexes=[{'columns': ['order_id']}]) }}
with

orders as (
    select * from {{ ref('stg_pix__orders') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by order_id
            order by snapshot_at desc, record_hash asc
        ) as snapshot_rank
    from orders
    -- an order snapshot without id or time is listed in rpt_data_issues
    where order_id is not null and snapshot_at is not null
),

latest as (
    select * from ranked
    where snapshot_rank = 1
)

select
    order_id,
    _load_seq,
    ordered_at,
    snapshot_at,
    order_status,
    order_total_amount,
    giftcard_amount,
    pix_amount,
    giftcard_id,
    payments,
    items,
    consultant_id,
    shipped_at,
    delivered_at,
    customer_email
from latest
