-- The latest snapshot of each store order: totals, gift-card part, shipping state.

-- Incremental by order: the orders with a snapshot loaded since the last build are ranked
-- again over all their snapshots (read by the staging table's order_id index) and replace
-- their rows; a snapshot loaded late that is older than the latest changes nothing. The
-- watermark is the staging table's highest load number (this model's own _load_seq is its
-- latest snapshot's, which a late older one does not raise).
{{ config(materialized='incremental', unique_key='order_id',
          incremental_strategy=replace_by_key(), partition_by=key_buckets(),
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['order_id']}],
          post_hook="{{ record_raw_watermark([ref('stg_pix__orders')]) }}") }}
with

orders as (
    select * from {{ ref('stg_pix__orders') }}
    {%- if is_incremental() %}
    where order_id in (
        select order_id from {{ ref('stg_pix__orders') }}
        where _load_seq > {{ watermark() }}
    )
    {%- endif %}
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
