-- Redemption order items, typed; a re-exported item (same item_id) is kept once, the
-- first delivered.

-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as (
    {{ raw_rows(source('redemptions', 'redemption_items')) }}
),

typed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(item_id, '')", 'item_id', issues) }} as item_id,
        {{ required("nullif(order_number, '')", 'order_number', issues) }} as order_number,
        product_sku,
        product_name,
        {{ one_of('product_type', ['PHYSICAL', 'VIRTUAL'], 'product_type', issues) }},
        {{ integer('quantity', 'quantity', issues) }} as quantity,
        {{ integer('points_per_item', 'points_per_item', issues, type=type_bigint()) }}
            as points_per_item,
        fulfillment_status,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

priced as (
    select
        *,
        quantity * points_per_item as item_points
    from typed
),

ranked as (
    {{ with_superseded_columns(
        'priced',
        ['item_id'],
        ['order_number', 'product_type', 'quantity', 'points_per_item']
    ) }}
)

select * from ranked
