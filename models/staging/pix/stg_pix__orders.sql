{{ config(materialized='incremental', unique_key='record_hash',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['order_id']}]) }}

{%- set issues = [] %}

with

source as materialized (
    {{ raw_payloads(source('pix', 'pix_orders')) }}
),

orders as (
    select
        *,
        {{ json_array("body -> 'payments'", 'payments', issues) }} as order_payments,
        {{ json_array("body -> 'items'", 'items', issues) }} as order_items,
        {{ json_object("body -> 'shippingData'", 'shippingData', issues) }} as shipping,
        {{ json_object("body -> 'clientProfileData'", 'clientProfileData', issues) }}
            as client
    from source
),

renamed as (
    select
        encode(_record_hash, 'hex') as record_hash,
        _file_name as source_file,
        _line_no as source_line,
        _load_seq,
        {{ required("nullif(body ->> 'orderId', '')", 'orderId', issues) }} as order_id,
        {{ timestamp("body ->> 'creationDate'", 'creationDate', issues) }} as ordered_at,
        {{ required(timestamp("body ->> 'lastChange'", 'lastChange', issues), 'lastChange',
                    issues, raw="nullif(body ->> 'lastChange', '')") }} as snapshot_at,
        body ->> 'status' as order_status,
        {{ cents("body ->> 'value'", 'value', issues) }} as order_total_amount,
        {%- do check_elements('order_payments', 'value', 'bigint', 'payments[].value', issues) %}
        (
            select coalesce(sum({{ safe_cast("p ->> 'value'", 'bigint') }}), 0)::numeric / 100
            from {{ json_array_elements('order_payments') }} as p
            where p ->> 'paymentSystem' = 'GiftCard'
        )::numeric(18, 2) as giftcard_amount,
        (
            select coalesce(sum({{ safe_cast("p ->> 'value'", 'bigint') }}), 0)::numeric / 100
            from {{ json_array_elements('order_payments') }} as p
            where p ->> 'paymentSystem' = 'PIX'
        )::numeric(18, 2) as pix_amount,
        (
            select p ->> 'giftCardId'
            from {{ json_array_elements('order_payments') }} as p
            where p ->> 'paymentSystem' = 'GiftCard'
            order by p ->> 'giftCardId'
            limit 1
        ) as giftcard_id,
        order_payments as payments,
        order_items as items,
        body ->> 'consultantId' as consultant_id,
        {{ timestamp("shipping ->> 'shippedDate'", 'shippingData.shippedDate', issues) }}
            as shipped_at,
        {{ timestamp("shipping ->> 'deliveredDate'", 'shippingData.deliveredDate', issues) }}
            as delivered_at,
        lower(client ->> 'email') as customer_email,
        {{ data_issues_column(issues) }} as data_issues
    from orders
)

select * from renamed
